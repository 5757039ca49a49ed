using Dapper;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Tests.Volume;

/// <summary>
/// The Volume module through its MediatR commands, against the OSSEA emulator (real signed HTTP,
/// async jobs), real loop devices, the real NBD server and the real database.
/// </summary>
[Category(TestKind.Peer)]
public class VolumeLifecycleTests : DatabaseTest
{
    private const long OneGiB = 1L << 30;

    private async Task<(long Volumes, long Mappings, long Exports)> RowCountsAsync()
    {
        await using var conn = await OpenAsync();
        return (await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM ossea_volumes"),
            await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM device_mappings"),
            await conn.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM nbd_exports"));
    }

    [Test]
    public async Task Create_attach_export_write_read_detach_delete_leaves_nothing_behind()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "migration-vm1-disk-0", OneGiB));
        var mapping = await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        var export = await env.SendAsync(new EnsureNbdExportCommand(volume.VolumeId, "migration-vm1-disk-0"));
        var port = env.Host.Services.GetRequiredService<NbdExportService>().LocalEndPoint!.Port;
        var uri = $"nbd://127.0.0.1:{port}/migration-vm1-disk-0";

        var size = await RunAsync("nbdinfo", "--size", uri);
        var pattern = new byte[1 << 20];
        Random.Shared.NextBytes(pattern);
        await using (var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "migration-vm1-disk-0"))
        {
            await client.WriteAsync(4096 * 100, pattern);
            await client.FlushAsync();
        }
        var onDevice = new byte[pattern.Length];
        await using (var device = File.OpenRead(mapping.DevicePath!))
        {
            device.Seek(4096 * 100, SeekOrigin.Begin);
            await device.ReadExactlyAsync(onDevice);
        }

        Assert.Multiple(() =>
        {
            Assert.That(volume.SizeBytes, Is.EqualTo(OneGiB));
            Assert.That(mapping.OperationMode, Is.EqualTo("oma"));
            Assert.That(mapping.DevicePath, Is.EqualTo(env.Emulator.DevicePathOf(volume.VolumeId)), "the device found is the one the kernel shows");
            Assert.That(mapping.StableDevicePath, Is.EqualTo(env.Emulator.ByIdLinkOf(volume.VolumeId)));
            Assert.That(export.DevicePath, Is.EqualTo(mapping.DevicePath));
            Assert.That(size.Trim(), Is.EqualTo(OneGiB.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            Assert.That(onDevice, Is.EqualTo(pattern), "bytes written through NBD are on the device");
        });

        await env.SendAsync(new DetachVolumeCommand(volume.VolumeId));
        await env.SendAsync(new DeleteVolumeCommand(volume.VolumeId));

        var operations = await env.SendAsync(new ListVolumeOperationsQuery(volume.VolumeId));
        await using var db = await OpenAsync();
        // Every OSSEA async job is tracked, tied to the job-log job (and correlation) that started it.
        var tracked = (await db.QueryAsync<(string Command, string Status, Guid? Correlation, Guid? JobCorrelation)>("""
            SELECT t.cloudstack_command, t.status, t.correlation_id, j.correlation_id
            FROM cloudstack_job_tracking t LEFT JOIN jobs j ON j.id = t.parent_job_id ORDER BY t.id
            """)).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(await RowCountsAsync(), Is.EqualTo((0L, 0L, 0L)));
            Assert.That(env.Emulator.Volumes().Where(v => v.Type == "DATADISK" && !v.Removed), Is.Empty, "the volume is gone in OSSEA");
            Assert.That(env.Emulator.ExposedDevices, Is.Empty, "no loop device left");
            Assert.That(operations.Select(o => o.Type), Is.EquivalentTo(new[] { "create", "attach", "export", "detach", "delete" }));
            Assert.That(operations.All(o => o.Status == "completed" && o.JobId is not null));
            Assert.That(tracked.Select(t => t.Command), Is.EqualTo(new[] { "createVolume", "attachVolume", "detachVolume" }));
            Assert.That(tracked.All(t => t.Status == "completed" && t.Correlation is not null && t.Correlation == t.JobCorrelation),
                "each async job carries the correlation id of the job that started it");
        });
    }

    [Test]
    public async Task A_repeated_attach_yields_one_device_and_parallel_attaches_are_serialized()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volumes = new List<VolumeView>();
        for (var i = 0; i < 4; i++)
        {
            volumes.Add(await env.SendAsync(new CreateVolumeCommand(env.ConfigId, $"parallel-{i}", OneGiB)));
        }
        var first = await env.SendAsync(new AttachVolumeCommand(volumes[0].VolumeId));
        var again = await env.SendAsync(new AttachVolumeCommand(volumes[0].VolumeId));
        var parallel = await Task.WhenAll(volumes.Skip(1).Select(v => env.SendAsync(new AttachVolumeCommand(v.VolumeId))));

        Assert.Multiple(async () =>
        {
            Assert.That(again, Is.EqualTo(first));
            Assert.That(env.Emulator.Faults.CallCount("attachVolume"), Is.EqualTo(4), "the repeat did not attach again");
            Assert.That(parallel.Select(m => m.DevicePath).Append(first.DevicePath).Distinct().Count(), Is.EqualTo(4));
            Assert.That(env.Emulator.MaxConcurrentVmOperations, Is.EqualTo(1), "OSSEA never saw two attaches to one VM at once");
            Assert.That((await RowCountsAsync()).Mappings, Is.EqualTo(4));
        });
    }

    [Test]
    public async Task An_attached_volume_cannot_be_deleted()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "busy", OneGiB));
        await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new DeleteVolumeCommand(volume.VolumeId)));
        Assert.Multiple(async () =>
        {
            Assert.That(env.Emulator.Faults.CallCount("deleteVolume"), Is.Zero);
            Assert.That((await RowCountsAsync()).Volumes, Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_device_that_never_appears_fails_the_attach_and_undoes_it()
    {
        var nowhere = TestDirectories.Create("empty-by-id");
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, new Dictionary<string, string?>
        {
            ["Volume:DeviceByIdDirectory"] = nowhere,
            ["Volume:SysBlockDirectory"] = nowhere,
            ["Volume:DeviceTimeout"] = "00:00:00.500",
        });
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "invisible", OneGiB));
        var error = Assert.CatchAsync(() => env.SendAsync(new AttachVolumeCommand(volume.VolumeId)));
        Assert.Multiple(async () =>
        {
            Assert.That(error!.Message, Does.Contain("no device with serial"));
            Assert.That(env.Emulator.Volume(volume.VolumeId)!.VirtualMachineId, Is.Null, "detached again in OSSEA");
            Assert.That((await RowCountsAsync()).Mappings, Is.Zero);
        });
    }

    public static IEnumerable<TestCaseData> FailingSteps()
    {
        yield return new TestCaseData("createVolume", 530).SetArgDisplayNames("create");
        yield return new TestCaseData("attachVolume", 530).SetArgDisplayNames("attach");
        yield return new TestCaseData("detachVolume", 530).SetArgDisplayNames("detach");
        yield return new TestCaseData("deleteVolume", 431).SetArgDisplayNames("delete");
    }

    [TestCaseSource(nameof(FailingSteps))]
    public async Task An_ossea_failure_at_a_step_leaves_database_cloud_and_kernel_consistent(string command, int code)
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        if (command == "createVolume")
        {
            env.Emulator.Faults.FailJobs(command, code);
        }
        VolumeView? volume = null;
        try
        {
            volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "fault", OneGiB));
            if (command == "attachVolume") env.Emulator.Faults.FailJobs(command, code);
            await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
            if (command == "detachVolume") env.Emulator.Faults.FailJobs(command, code);
            await env.SendAsync(new DetachVolumeCommand(volume.VolumeId));
            if (command == "deleteVolume") env.Emulator.Faults.FailAllCalls(command, code);
            await env.SendAsync(new DeleteVolumeCommand(volume.VolumeId));
            Assert.Fail("the injected failure did not surface");
        }
        catch (Exception ex) when (ex is not AssertionException)
        {
            // expected: now check that every side agrees
        }
        env.Emulator.Faults.Clear();

        var counts = await RowCountsAsync();
        // The OMA appliance's own ROOT disk is not ours.
        var cloud = env.Emulator.Volumes().Where(v => v.Type == "DATADISK" && !v.Removed).ToList();
        Assert.Multiple(async () =>
        {
            Assert.That(counts.Volumes, Is.EqualTo(cloud.Count), "every OSSEA volume has its row and no row lacks its volume");
            var attachedInCloud = cloud.Count(v => v.VirtualMachineId is not null);
            Assert.That(counts.Mappings, Is.EqualTo(attachedInCloud), "a mapping exactly for each attachment");
            Assert.That(env.Emulator.ExposedDevices.Count, Is.EqualTo(attachedInCloud), "a device exactly for each attachment");
            var failedOps = (await env.SendAsync(new ListVolumeOperationsQuery())).Where(o => o.Status == "failed").ToList();
            Assert.That(failedOps, Has.Count.EqualTo(1));
            Assert.That(failedOps[0].Error, Is.Not.Empty);
        });

        // And the state is recoverable: a retry of the remaining steps cleans everything up.
        if (volume is not null)
        {
            if (counts.Mappings > 0) await env.SendAsync(new DetachVolumeCommand(volume.VolumeId));
            await env.SendAsync(new DeleteVolumeCommand(volume.VolumeId));
        }
        Assert.That(await RowCountsAsync(), Is.EqualTo((0L, 0L, 0L)));
    }

    [Test]
    public async Task The_reconciler_repairs_a_moved_device_and_reports_what_it_may_not_fix()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "moving", OneGiB));
        var mapping = await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        await env.SendAsync(new EnsureNbdExportCommand(volume.VolumeId, "moving"));
        await using (var conn = await OpenAsync())
        {
            await conn.ExecuteAsync("UPDATE device_mappings SET device_path = '/dev/stale' WHERE volume_id = @id", new { id = volume.VolumeId });
            await conn.ExecuteAsync("UPDATE nbd_exports SET device_path = '/dev/stale' WHERE volume_id = @id", new { id = volume.VolumeId });
            await conn.ExecuteAsync("""
                INSERT INTO ossea_volumes (volume_id, volume_name, size, status, ossea_config_id, created_at, updated_at)
                VALUES ('00000000-0000-0000-0000-00000000dead', 'ghost', 1073741824, 'Ready', @config, NOW(), NOW())
                """, new { config = env.ConfigId });
        }

        var report = await env.SendAsync(new ReconcileVolumesCommand());
        var after = await env.SendAsync(new GetVolumeQuery(volume.VolumeId));
        Assert.Multiple(async () =>
        {
            Assert.That(report.VolumesChecked, Is.EqualTo(2));
            Assert.That(report.Repaired, Has.Count.EqualTo(1).And.Some.Contains(mapping.DevicePath!));
            Assert.That(report.Problems, Has.Some.Contains("unknown to OSSEA"));
            Assert.That(after!.Mapping!.DevicePath, Is.EqualTo(mapping.DevicePath));
            Assert.That(after.Export!.DevicePath, Is.EqualTo(mapping.DevicePath));
            Assert.That((await RowCountsAsync()).Volumes, Is.EqualTo(2), "the reconciler deletes nothing");
        });
    }

    private static async Task<string> RunAsync(string tool, params string[] args)
    {
        await using var process = await ExternalProcess.RunAsync(tool, args, TimeSpan.FromSeconds(30));
        Assert.That(process.ExitCode, Is.Zero, $"{tool} failed: {process.StandardError}");
        return process.StandardOutput;
    }
}
