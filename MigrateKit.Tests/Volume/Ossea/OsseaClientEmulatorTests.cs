using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.Ossea;

/// <summary>
/// The real client (wired by AddOsseaClient) against the emulator over HTTP on 127.0.0.1.
/// NonParallelizable: the tests create loop devices, a machine-wide resource.
/// </summary>
[NonParallelizable]
[CancelAfter(60_000)]
[Category(TestKind.Peer)]
public sealed class OsseaClientEmulatorTests
{
    private const int Mib = 1024 * 1024;

    private OsseaEmulator _emulator = null!;

    private static OsseaOperation Op(string type, Guid? correlation = null) => new(type, correlation ?? Guid.NewGuid(), Guid.NewGuid());

    [SetUp]
    public async Task StartEmulator() => _emulator = await OsseaEmulator.StartAsync();

    [TearDown]
    public async Task StopEmulator()
    {
        var devices = _emulator.ExposedDevices.ToList();
        await _emulator.DisposeAsync();
        foreach (var device in devices.Where(d => d.StartsWith("/dev/loop", StringComparison.Ordinal)))
        {
            Assert.That(File.Exists($"/sys/block/{Path.GetFileName(device)}/loop/backing_file"), Is.False, $"{device} left behind");
        }
    }

    private OsseaTestClient NewClient(Action<OsseaClientOptions>? configure = null) => OsseaTestClient.Create(_emulator, configure);

    [Test]
    public async Task TestConnectionFindsTheConfiguredZone(CancellationToken ct)
    {
        using var t = NewClient();
        var check = await t.Client.TestConnectionAsync(ct);
        Assert.That(check.Succeeded, Is.True, check.Message);
        Assert.That(check.Zone!.Name, Is.EqualTo(_emulator.ZoneName));
    }

    [Test]
    public async Task BadSignatureIsRefusedWith401(CancellationToken ct)
    {
        using var t = OsseaTestClient.Create(_emulator, secretKey: _emulator.SecretKey + "x");
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.ListZonesAsync(null, null, ct));
        Assert.That(ex!.Code, Is.EqualTo(401));
        Assert.That(ex.IsTransient, Is.False);
        Assert.That(ex.Text, Is.EqualTo("unable to verify user credentials and/or request signature"));
        Assert.That(_emulator.Faults.RejectedSignatures, Is.EqualTo(1), "a 401 is not retried");

        var check = await t.Client.TestConnectionAsync(ct);
        Assert.That(check.Succeeded, Is.False);
        Assert.That(check.ErrorCode, Is.EqualTo(401));
        Assert.That(check.Message, Does.Contain("credentials"));
        Assert.That(check.Message, Does.Not.Contain(_emulator.SecretKey));
    }

    [Test]
    public void UnknownApiKeyIsRefusedWith401(CancellationToken ct)
    {
        using var t = OsseaTestClient.Create(_emulator, apiKey: "not-a-known-key");
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.ListVolumesAsync(new OsseaVolumeQuery(), ct));
        Assert.That(ex!.Code, Is.EqualTo(401));
    }

    [Test]
    public void ExpiredSignatureIsRefused(CancellationToken ct)
    {
        // The client's clock is an hour behind: its expires (now + 15 min) is already past for the server.
        var late = new FakeTimeProvider(DateTimeOffset.UtcNow.AddHours(-1));
        using var t = OsseaTestClient.Create(_emulator, time: late);
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.ListZonesAsync(null, null, ct));
        Assert.That(ex!.Code, Is.EqualTo(401));
    }

    [Test]
    public async Task VolumeLifecycleOnTheOmaGivesARealBlockDevice(CancellationToken ct)
    {
        using var t = NewClient();
        var correlation = Guid.NewGuid();
        var volume = await t.Client.CreateVolumeAsync(
            new OsseaCreateVolume("migration-vm1-disk-0", _emulator.CustomDiskOfferingId, _emulator.ZoneId, SizeGb: 1),
            Op("create_volume", correlation), ct);
        Assert.That((volume.State, volume.Size, volume.Type), Is.EqualTo(("Allocated", 1L << 30, "DATADISK")));

        var attached = await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach_volume", correlation), ct);
        Assert.That((attached.VirtualMachineId, attached.DeviceId, attached.State, attached.VmState),
            Is.EqualTo((_emulator.OmaVmId, (long?)1, "Ready", "Running")), "device 0 is the OMA's ROOT");

        // The device is found by the serial OSSEA derives from the volume id, not by device id arithmetic.
        var link = Path.Combine(_emulator.ByIdDirectory, "virtio-" + OsseaVolumeSerial.FromVolumeId(volume.Id));
        Assert.That(File.Exists(link), Is.True);
        var device = new FileInfo(link).LinkTarget!;
        Assert.That(device, Is.EqualTo(_emulator.DevicePathOf(volume.Id)));
        if (_emulator.BlockDeviceMode == EmulatedBlockDeviceMode.LoopDevice)
        {
            Assert.That(device, Does.StartWith("/dev/loop"));
            Assert.That(File.ReadAllText($"/sys/block/{Path.GetFileName(device)}/loop/backing_file").Trim(),
                Is.EqualTo(_emulator.VolumeFileOf(volume.Id)));
            Assert.That(long.Parse(File.ReadAllText($"/sys/block/{Path.GetFileName(device)}/size").Trim()) * 512, Is.EqualTo(1L << 30));
        }

        var pattern = Pattern(Mib, seed: 7);
        await WriteAsync(link, 512L * Mib, pattern, ct);
        Assert.That(await ReadAsync(link, 512L * Mib, pattern.Length, ct), Is.EqualTo(pattern));

        var detached = await t.Client.DetachVolumeAsync(volume.Id, Op("detach_volume", correlation), ct);
        Assert.That(detached.VirtualMachineId, Is.Null);
        Assert.That(File.Exists(link) || Directory.Exists(link), Is.False, "the by-id link goes with the device");
        Assert.That(_emulator.DevicePathOf(volume.Id), Is.Null);
        if (_emulator.BlockDeviceMode == EmulatedBlockDeviceMode.LoopDevice)
        {
            Assert.That(File.Exists($"/sys/block/{Path.GetFileName(device)}/loop/backing_file"), Is.False, "losetup -d ran");
        }

        // The data lives in the volume, not in the device: it is there after a new attach.
        Assert.That(await ReadAsync(_emulator.VolumeFileOf(volume.Id), 512L * Mib, pattern.Length, ct), Is.EqualTo(pattern));
        await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach_volume", correlation), ct);
        Assert.That(await ReadAsync(link, 512L * Mib, pattern.Length, ct), Is.EqualTo(pattern));
        await t.Client.DetachVolumeAsync(volume.Id, Op("detach_volume", correlation), ct);

        await t.Client.DeleteVolumeAsync(volume.Id, ct);
        Assert.That(await t.Client.GetVolumeAsync(volume.Id, ct), Is.Null);
        Assert.That(File.Exists(_emulator.VolumeFileOf(volume.Id)), Is.False);

        // Every async job reached the recorder, with the caller's correlation id, started before finished.
        var started = t.Recorder.Started.ToList();
        var finished = t.Recorder.Finished.ToList();
        Assert.That(started.Select(s => s.Command),
            Is.EqualTo(new[] { "createVolume", "attachVolume", "detachVolume", "attachVolume", "detachVolume" }));
        Assert.That(started.Select(s => s.JobId), Is.Unique);
        Assert.That(started.All(s => s.Operation.CorrelationId == correlation), Is.True);
        Assert.That(started[0].EntityId, Is.EqualTo(volume.Id), "async-create reports the new id at start");
        Assert.That(finished.Select(f => f.JobId), Is.EquivalentTo(started.Select(s => s.JobId)));
        Assert.That(finished.All(f => f.Outcome == OsseaJobOutcome.Completed && f.CloudStackStatus == 1), Is.True);
        Assert.That(finished.All(f => f.Operation.CorrelationId == correlation && f.ResultJson!.Contains(volume.Id)), Is.True);
    }

    [Test]
    public async Task DeletingAnAttachedVolumeIsRefusedWith431AndNotRetried(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-del");
        await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct);

        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.DeleteVolumeAsync(volume.Id, ct));
        Assert.That((ex!.Code, ex.CsErrorCode, ex.IsTransient), Is.EqualTo((431, (int?)4350, false)));
        Assert.That(ex.Text, Is.EqualTo("Please specify a volume that is not attached to any VM."));
        Assert.That(_emulator.Faults.CallCount("deleteVolume"), Is.EqualTo(1));
        Assert.That(_emulator.Volume(volume.Id)!.Removed, Is.False);
        await t.Client.DetachVolumeAsync(volume.Id, Op("detach"), ct);
    }

    [Test]
    public async Task AttachingAnAttachedVolumeFailsTheJobWithTheServerText(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-twice");
        await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct);

        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct));
        Assert.That((ex!.Code, ex.CsErrorCode), Is.EqualTo((530, (int?)4250)), "CloudRuntimeException in checkAndSetAttaching");
        Assert.That(ex.Text, Is.EqualTo("volume: vol-twice is already attached to a VM: migratekit-oma"));
        Assert.That(ex.JobId, Is.Not.Null);
        var failed = t.Recorder.Finished.Single(f => f.JobId == ex.JobId);
        Assert.That((failed.Outcome, failed.CloudStackStatus, failed.ErrorCode), Is.EqualTo((OsseaJobOutcome.Failed, 2, (int?)530)));
        await t.Client.DetachVolumeAsync(volume.Id, Op("detach"), ct);
    }

    [Test]
    public async Task ParallelAttachesToOneVmAreSerializedAndGetDistinctDevices(CancellationToken ct)
    {
        using var t = NewClient();
        var volumes = new List<OsseaVolume>();
        for (var i = 0; i < 4; i++)
        {
            volumes.Add(await NewVolumeAsync(t, $"par-{i}"));
        }

        var attached = await Task.WhenAll(volumes.Select(v => t.Client.AttachVolumeAsync(v.Id, _emulator.OmaVmId, null, Op("attach"), ct)));
        Assert.That(attached.Select(a => a.DeviceId), Is.EquivalentTo(new long?[] { 1, 2, 4, 5 }), "lowest free, 3 skipped");
        Assert.That(_emulator.MaxConcurrentVmOperations, Is.EqualTo(1));
        Assert.That(volumes.Select(v => _emulator.DevicePathOf(v.Id)), Is.Unique.And.All.Not.Null);

        await Task.WhenAll(volumes.Select(v => t.Client.DetachVolumeAsync(v.Id, Op("detach"), ct)));
        Assert.That(_emulator.ExposedDevices, Is.Empty);
    }

    [Test]
    public async Task SnapshotRevertNeedsTheVolumeDetachedAndRestoresTheData(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-snap");
        await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct);
        var link = _emulator.ByIdLinkOf(volume.Id);
        var before = Pattern(Mib, seed: 1);
        var after = Pattern(Mib, seed: 2);
        await WriteAsync(link, 0, before, ct);

        var snapshot = await t.Client.CreateSnapshotAsync(volume.Id, "pre-failover", Op("snapshot"), ct);
        Assert.That((snapshot.State, snapshot.VolumeId), Is.EqualTo(("BackedUp", volume.Id)));
        await WriteAsync(link, 0, after, ct);

        var refused = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.RevertSnapshotAsync(snapshot.Id, Op("revert"), ct));
        Assert.That(refused!.Text, Is.EqualTo("The VM the specified disk is attached to is not in the shutdown state."));

        await t.Client.DetachVolumeAsync(volume.Id, Op("detach"), ct);
        await t.Client.RevertSnapshotAsync(snapshot.Id, Op("revert"), ct);
        await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct);
        Assert.That(await ReadAsync(_emulator.ByIdLinkOf(volume.Id), 0, before.Length, ct), Is.EqualTo(before));

        Assert.That(await t.Client.ListSnapshotsAsync(null, volume.Id, null, ct), Has.Count.EqualTo(1));
        await t.Client.DeleteSnapshotAsync(snapshot.Id, Op("delete_snapshot"), ct);
        Assert.That(await t.Client.ListSnapshotsAsync(null, volume.Id, null, ct), Is.Empty);
        await t.Client.DetachVolumeAsync(volume.Id, Op("detach"), ct);
    }

    [Test]
    public async Task SnapshotOfAnAllocatedVolumeIsRefused(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-new");
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.CreateSnapshotAsync(volume.Id, "s", Op("snapshot"), ct));
        Assert.That(ex!.Code, Is.EqualTo(431));
        Assert.That(ex.Text, Does.Contain("is not in Ready state but Allocated"));
    }

    [Test]
    public async Task DeployStartStopDestroyAVm(CancellationToken ct)
    {
        using var t = NewClient();
        string? announced = null;
        var vm = await t.Client.DeployVirtualMachineAsync(new OsseaDeployVirtualMachine
        {
            Name = "test-failover-web01",
            DisplayName = "web01 (test failover)",
            ServiceOfferingId = _emulator.ServiceOfferingId,
            TemplateId = _emulator.TemplateId,
            ZoneId = _emulator.ZoneId,
            Nics = [new OsseaNicPlacement(_emulator.NetworkId, "10.1.1.77", "00:50:56:aa:bb:cc")],
            StartVm = false,
            Details = new Dictionary<string, string> { ["rootDiskController"] = "scsi" },
        }, Op("failover_deploy"), (id, _) =>
        {
            announced = id;
            return Task.CompletedTask;
        }, ct);
        Assert.That(announced, Is.EqualTo(vm.Id), "the deploy told its caller the VM id when the job started");
        Assert.That(vm.State, Is.EqualTo("Stopped"));
        Assert.That((vm.Nic.Single().MacAddress, vm.Nic.Single().IpAddress), Is.EqualTo(("00:50:56:aa:bb:cc", "10.1.1.77")));
        Assert.That(vm.Details!["rootDiskController"], Is.EqualTo("scsi"));

        Assert.That((await t.Client.StartVirtualMachineAsync(vm.Id, Op("start"), ct)).State, Is.EqualTo("Running"));
        Assert.That((await t.Client.StopVirtualMachineAsync(vm.Id, forced: true, Op("stop"), ct)).State, Is.EqualTo("Stopped"));
        await t.Client.DestroyVirtualMachineAsync(vm.Id, expunge: true, Op("destroy"), ct);
        Assert.That(_emulator.VirtualMachineState(vm.Id), Is.EqualTo("Expunged"));
        Assert.That(await t.Client.GetVirtualMachineAsync(vm.Id, ct), Is.Null);
        Assert.That(t.Recorder.Started.Select(s => s.Command),
            Is.EqualTo(new[] { "deployVirtualMachine", "startVirtualMachine", "stopVirtualMachine", "destroyVirtualMachine" }));
    }

    [Test]
    public async Task ANewVmBootsFromAReplicatedVolumeAttachedAsRoot(CancellationToken ct)
    {
        using var t = NewClient();
        var replica = await NewVolumeAsync(t, "replica-root");
        await t.Client.AttachVolumeAsync(replica.Id, _emulator.OmaVmId, null, Op("attach"), ct);
        var boot = Pattern(4096, seed: 9);
        await WriteAsync(_emulator.ByIdLinkOf(replica.Id), 0, boot, ct);
        await t.Client.DetachVolumeAsync(replica.Id, Op("detach"), ct);

        var vm = await t.Client.DeployVirtualMachineAsync(new OsseaDeployVirtualMachine
        {
            Name = "boot-from-replica", ServiceOfferingId = _emulator.ServiceOfferingId, TemplateId = _emulator.TemplateId,
            ZoneId = _emulator.ZoneId, NetworkIds = [_emulator.NetworkId], MacAddress = "00:50:56:01:02:03", StartVm = false,
        }, Op("failover_deploy"), null, ct);
        var templateRoot = (await t.Client.ListVolumesAsync(new OsseaVolumeQuery(VirtualMachineId: vm.Id, Type: "ROOT"), ct)).Single();
        await t.Client.DetachVolumeAsync(templateRoot.Id, Op("detach_root"), ct);
        var root = await t.Client.AttachVolumeAsync(replica.Id, vm.Id, 0, Op("attach_root"), ct);
        Assert.That((root.DeviceId, root.Type), Is.EqualTo(((long?)0, "ROOT")));
        Assert.That((await t.Client.StartVirtualMachineAsync(vm.Id, Op("start"), ct)).State, Is.EqualTo("Running"));
        Assert.That(await ReadAsync(_emulator.VolumeFileOf(replica.Id), 0, boot.Length, ct), Is.EqualTo(boot));

        // Detaching the ROOT of a running VM is refused, as on KVM.
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.DetachVolumeAsync(replica.Id, Op("detach_root"), ct));
        Assert.That(ex!.Code, Is.EqualTo(431));
    }

    [Test]
    public async Task AFailedJobSurfacesErrorCodeAndText(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-fail");
        _emulator.Faults.FailJobs("attachVolume", 530, "Failed to attach volume vol-fail: target vdb already exists");

        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct));
        Assert.That((ex!.Code, ex.CsErrorCode, ex.Command), Is.EqualTo((530, (int?)4250, "attachVolume")));
        Assert.That(ex.Text, Is.EqualTo("Failed to attach volume vol-fail: target vdb already exists"));
        Assert.That(ex.Message, Does.Contain("530").And.Contain(ex.JobId!));
        Assert.That(_emulator.Faults.CallCount("attachVolume"), Is.EqualTo(1), "a failed job is not retried");
        var finished = t.Recorder.Finished.Single(f => f.JobId == ex.JobId);
        Assert.That((finished.Outcome, finished.ErrorCode, finished.ErrorText), Is.EqualTo((OsseaJobOutcome.Failed, (int?)530, ex.Text)));
    }

    [TestCase(429)]
    [TestCase(530)]
    [TestCase(503)]
    public async Task TransientErrorsOnListsAreRetried(int code)
    {
        using var t = NewClient();
        _emulator.Faults.FailCalls("listVolumes", code, times: 2);
        var volumes = await t.Client.ListVolumesAsync(new OsseaVolumeQuery(VirtualMachineId: _emulator.OmaVmId), CancellationToken.None);
        Assert.That(volumes.Single().Type, Is.EqualTo("ROOT"));
        Assert.That(_emulator.Faults.CallCount("listVolumes"), Is.EqualTo(3));
    }

    [Test]
    public void RetriesAreBounded(CancellationToken ct)
    {
        using var t = NewClient(o => o.MaxAttempts = 3);
        _emulator.Faults.FailAllCalls("listZones", 429);
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.ListZonesAsync(null, null, ct));
        Assert.That((ex!.Code, ex.IsTransient), Is.EqualTo((429, true)));
        Assert.That(_emulator.Faults.CallCount("listZones"), Is.EqualTo(3));
    }

    [Test]
    public void Internal530OnACreateIsNotRetried(CancellationToken ct)
    {
        using var t = NewClient();
        _emulator.Faults.FailCalls("createVolume", 530);
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => NewVolumeAsync(t, "vol-530"));
        Assert.That((ex!.Code, ex.IsTransient), Is.EqualTo((530, false)));
        Assert.That(_emulator.Faults.CallCount("createVolume"), Is.EqualTo(1));
    }

    [Test]
    public void RateLimitOnACreateIsRetried(CancellationToken ct)
    {
        // 429 is decided before the command runs, so even a create may go again.
        using var t = NewClient();
        _emulator.Faults.FailCalls("createVolume", 429);
        Assert.DoesNotThrowAsync(() => NewVolumeAsync(t, "vol-429"));
        Assert.That(_emulator.Faults.CallCount("createVolume"), Is.EqualTo(2));
    }

    [Test]
    public void PermanentParamErrorIsNotRetried(CancellationToken ct)
    {
        using var t = NewClient();
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.CreateVolumeAsync(
            new OsseaCreateVolume("vol-fixed", _emulator.FixedDiskOfferingId, _emulator.ZoneId, SizeGb: 5), Op("create"), ct));
        Assert.That((ex!.Code, ex.CsErrorCode, ex.IsTransient), Is.EqualTo((431, (int?)4350, false)));
        Assert.That(ex.Text, Is.EqualTo("This disk offering does not allow custom size"));
        Assert.That(_emulator.Faults.CallCount("createVolume"), Is.EqualTo(1));
        Assert.That(t.Recorder.Started, Is.Empty, "no job was started");
    }

    [Test]
    public async Task AJobThatNeverCompletesHitsTheDeadline(CancellationToken ct)
    {
        using var t = NewClient(o => o.JobTimeout = TimeSpan.FromMilliseconds(300));
        var volume = await NewVolumeAsync(t, "vol-hang");
        _emulator.Faults.DelayJobs("attachVolume", Timeout.InfiniteTimeSpan);

        var started = DateTime.UtcNow;
        var ex = Assert.ThrowsAsync<OsseaJobTimeoutException>(() => t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct));
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
        Assert.That(ex!.JobId, Is.Not.Null);
        Assert.That(_emulator.Faults.CallCount("queryAsyncJobResult"), Is.GreaterThan(1));
        var finished = t.Recorder.Finished.Single(f => f.JobId == ex.JobId);
        Assert.That((finished.Outcome, finished.CloudStackStatus), Is.EqualTo((OsseaJobOutcome.TimedOut, 0)));
    }

    [Test]
    public async Task ALostCreateAnswerDoesNotCreateASecondVolume(CancellationToken ct)
    {
        using var t = NewClient();
        _emulator.Faults.LoseAnswers("createVolume");
        var volume = await NewVolumeAsync(t, "vol-lost-answer");
        Assert.That(_emulator.Faults.CallCount("createVolume"), Is.EqualTo(1), "never resent: the listing found it");
        Assert.That(_emulator.Volumes().Where(v => v.Name == "vol-lost-answer").Select(v => v.Id), Is.EqualTo(new[] { volume.Id }));
    }

    [Test]
    public async Task ATimedOutCreateIsResolvedByNameNotResent(CancellationToken ct)
    {
        using var t = NewClient(o => o.RequestTimeout = TimeSpan.FromSeconds(1));
        _emulator.Faults.DelayAnswers("createVolume", TimeSpan.FromSeconds(30)); // aborted when the client gives up
        var volume = await NewVolumeAsync(t, "vol-slow-answer");
        Assert.That(_emulator.Faults.CallCount("createVolume"), Is.EqualTo(1));
        Assert.That(_emulator.Volumes().Count(v => v.Name == "vol-slow-answer"), Is.EqualTo(1));
        Assert.That(volume.Name, Is.EqualTo("vol-slow-answer"));
        Assert.That(t.Logs.Lines, Has.Some.Contains("OsseaCreateAdopted"));
    }

    [Test]
    public async Task ABrokenRecorderDoesNotAbandonTheOperation(CancellationToken ct)
    {
        using var t = OsseaTestClient.Create(_emulator, recorderOverride: new ThrowingRecorder());
        var volume = await NewVolumeAsync(t, "vol-recorder-down");
        Assert.That(volume.State, Is.EqualTo("Allocated"));
        Assert.That(t.Logs.Lines.Count(l => l.Contains("OsseaJobRecorderFailed")), Is.EqualTo(2));
    }

    private sealed class ThrowingRecorder : IOsseaJobRecorder
    {
        public Task JobStartedAsync(OsseaJobStarted job, CancellationToken cancellationToken) => throw new InvalidOperationException("database down");

        public Task JobFinishedAsync(OsseaJobFinished job, CancellationToken cancellationToken) => throw new InvalidOperationException("database down");
    }

    [Test]
    public async Task ALostAttachAnswerIsResolvedFromTheVolumeState(CancellationToken ct)
    {
        using var t = NewClient();
        var volume = await NewVolumeAsync(t, "vol-lost-attach");
        _emulator.Faults.LoseAnswers("attachVolume");
        var attached = await t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("attach"), ct);
        Assert.That(attached.VirtualMachineId, Is.EqualTo(_emulator.OmaVmId));

        // The lost request's job was still queued when the client looked, so it sent attach again;
        // OSSEA refused that one ("already attached") and the client recognised its own attach.
        Assert.That(_emulator.Faults.CallCount("attachVolume"), Is.InRange(1, 2));
        Assert.That(_emulator.ExposedDevices, Has.Count.EqualTo(1));
        Assert.That(_emulator.Volume(volume.Id)!.DeviceId, Is.EqualTo(1));
        await t.Client.DetachVolumeAsync(volume.Id, Op("detach"), ct);
    }

    [Test]
    public async Task ALostDeployAnswerFindsTheVmByName(CancellationToken ct)
    {
        using var t = NewClient();
        _emulator.Faults.LoseAnswers("deployVirtualMachine");
        var vm = await t.Client.DeployVirtualMachineAsync(new OsseaDeployVirtualMachine
        {
            Name = "lost-deploy", ServiceOfferingId = _emulator.ServiceOfferingId, TemplateId = _emulator.TemplateId,
            ZoneId = _emulator.ZoneId, NetworkIds = [_emulator.NetworkId],
        }, Op("failover_deploy"), null, ct);
        Assert.That(vm.State, Is.EqualTo("Running"));
        Assert.That(_emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1));
    }

    [Test]
    public void ConnectionRefusedIsTransientAndBounded(CancellationToken ct)
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        using var t = OsseaTestClient.Create(_emulator, apiUrl: $"http://127.0.0.1:{port}/client/api");
        var ex = Assert.ThrowsAsync<OsseaApiException>(() => t.Client.ListZonesAsync(null, null, ct));
        Assert.That((ex!.Code, ex.IsTransient, ex.OutcomeUnknown), Is.EqualTo((0, true, false)));
    }

    [Test]
    public async Task EmptyListsAndPagingWork(CancellationToken ct)
    {
        using var t = NewClient(o => o.PageSize = 2);
        Assert.That(await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Name: "no-such-volume"), ct), Is.Empty);
        for (var i = 0; i < 5; i++)
        {
            await NewVolumeAsync(t, $"page-{i}");
        }

        var all = await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Type: "DATADISK"), ct);
        Assert.That(all.Select(v => v.Name), Is.EquivalentTo(Enumerable.Range(0, 5).Select(i => $"page-{i}")));
        Assert.That(_emulator.Faults.CallCount("listVolumes"), Is.EqualTo(4), "3 pages plus the empty list");
    }

    [Test]
    public async Task LongRequestsGoAsSignedPostForms(CancellationToken ct)
    {
        using var t = NewClient(o => o.MaxGetQueryLength = 256);
        var name = "long-" + new string('x', 300);
        Assert.That(await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Name: name), ct), Is.Empty);
        Assert.That(_emulator.Faults.PostRequests, Is.EqualTo(1));
        Assert.That(_emulator.Faults.RejectedSignatures, Is.Zero);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task AwkwardCharactersSurviveSigningAndTransport(bool post, CancellationToken ct)
    {
        // The values Java's URLEncoder treats differently from .NET's encoders, plus query syntax.
        using var t = NewClient(o => o.MaxGetQueryLength = post ? 256 : 4096);
        var name = "a b*c~d/é!()'+&=%;😀" + (post ? new string('z', 300) : "");
        Assert.That(await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Name: name), ct), Is.Empty);
        var created = await NewVolumeAsync(t, name);
        Assert.That((await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Name: name), ct)).Single().Id, Is.EqualTo(created.Id));
        Assert.That(_emulator.Faults.RejectedSignatures, Is.Zero);
        Assert.That(_emulator.Faults.PostRequests, post ? Is.GreaterThanOrEqualTo(3) : Is.Zero);
    }

    [Test]
    public async Task StateChangingCallsCanGoAsPost(CancellationToken ct)
    {
        using var t = NewClient(o => o.PostStateChangingRequests = true);
        var volume = await NewVolumeAsync(t, "vol-post");
        await t.Client.DeleteVolumeAsync(volume.Id, ct);
        Assert.That(_emulator.Faults.PostRequests, Is.EqualTo(2), "createVolume and deleteVolume; queryAsyncJobResult stays GET");
        Assert.That(_emulator.Faults.CallCount("queryAsyncJobResult"), Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public void TheFactoryCannotBeBuiltWithoutARecorder()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddOsseaClient();
        using var provider = services.BuildServiceProvider();
        Assert.Throws<InvalidOperationException>(() =>
            provider.GetRequiredService<OsseaClientFactory>());
    }

    [Test]
    public void TheFactoryRejectsBadConfigsWithoutEchoingSecrets()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton<IOsseaJobRecorder>(new RecordingJobRecorder());
        services.AddOsseaClient();
        using var provider = services.BuildServiceProvider();
        var factory = provider.GetRequiredService<OsseaClientFactory>();
        var good = new OsseaConfig { Name = "c", ApiUrl = "https://cloud.example/client/api", ApiKey = "AK", SecretKey = "SK-secret", Zone = "z" };
        Assert.That(factory.Create(good), Is.Not.Null);
        Assert.Throws<ArgumentException>(() => factory.Create(good with { ApiUrl = "ftp://cloud.example/client/api" }));
        Assert.Throws<ArgumentException>(() => factory.Create(good with { ApiUrl = "https://cloud.example/client/api?apiKey=x" }));
        var ex = Assert.Throws<ArgumentException>(() => factory.Create(good with { SecretKey = "top\u0001secret" }));
        Assert.That(ex!.Message, Does.Not.Contain("top"));
        Assert.Throws<ArgumentException>(() => factory.Create(good with { Zone = " " }));
    }

    [Test]
    public async Task SecretsNeverReachLogsOrExceptions(CancellationToken ct)
    {
        using var t = NewClient();
        var messages = new List<string>();
        var volume = await NewVolumeAsync(t, "vol-secrets");
        _emulator.Faults.FailCalls("listVolumes", 429, 1);
        await t.Client.ListVolumesAsync(new OsseaVolumeQuery(Id: volume.Id), ct);
        _emulator.Faults.FailJobs("attachVolume", 530);
        messages.Add(Assert.ThrowsAsync<OsseaApiException>(() => t.Client.AttachVolumeAsync(volume.Id, _emulator.OmaVmId, null, Op("a"), ct))!.ToString());
        messages.Add(Assert.ThrowsAsync<OsseaApiException>(() => t.Client.DeleteVolumeAsync(Guid.NewGuid().ToString(), ct))!.ToString());

        using var wrong = OsseaTestClient.Create(_emulator, secretKey: _emulator.SecretKey + "y");
        messages.Add(Assert.ThrowsAsync<OsseaApiException>(() => wrong.Client.ListZonesAsync(null, null, ct))!.ToString());

        var everything = string.Join('\n', t.Logs.Lines.Concat(wrong.Logs.Lines).Concat(messages)
            .Concat(t.Recorder.Started.Select(s => s.ToString())).Concat(t.Recorder.Finished.Select(f => f.ToString())));
        Assert.That(t.Logs.Lines, Is.Not.Empty);
        Assert.That(everything, Does.Not.Contain(_emulator.ApiKey));
        Assert.That(everything, Does.Not.Contain(_emulator.SecretKey));
        Assert.That(everything, Does.Not.Contain("signature="));
        Assert.That(everything, Does.Not.Contain("apiKey="));
        Assert.That(new OsseaConfig { Name = "n", ApiUrl = "http://x/client/api", ApiKey = "AK-123", SecretKey = "SK-456", Zone = "z" }.ToString(),
            Does.Not.Contain("AK-123").And.Not.Contain("SK-456"));
    }

    private Task<OsseaVolume> NewVolumeAsync(OsseaTestClient t, string name)
        => t.Client.CreateVolumeAsync(new OsseaCreateVolume(name, _emulator.CustomDiskOfferingId, _emulator.ZoneId, SizeGb: 1),
            Op("create_volume"), CancellationToken.None);

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static async Task WriteAsync(string path, long offset, byte[] data, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite, 1, FileOptions.WriteThrough);
        stream.Position = offset;
        await stream.WriteAsync(data, ct);
        await stream.FlushAsync(ct);
        stream.Flush(flushToDisk: true);
    }

    private static async Task<byte[]> ReadAsync(string path, long offset, int length, CancellationToken ct)
    {
        await using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1);
        stream.Position = offset;
        var buffer = new byte[length];
        await stream.ReadExactlyAsync(buffer, ct);
        return buffer;
    }
}
