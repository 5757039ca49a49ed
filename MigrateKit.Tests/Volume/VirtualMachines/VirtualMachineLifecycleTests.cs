using Dapper;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.VirtualMachines;

/// <summary>
/// The Volume module's OSSEA VM commands through MediatR, against the OSSEA emulator (signed HTTP,
/// async jobs, per-VM queues) and the real database: the failover path create → attach → start → stop
/// → detach → destroy, and the idempotence the failover's retries and rollback rely on.
/// </summary>
[Category(TestKind.Database)]
public class VirtualMachineLifecycleTests : DatabaseTest
{
    private const long OneGiB = 1L << 30;

    [Test]
    public async Task Create_publishes_the_vm_id_while_the_deploy_job_runs_and_leaves_a_stopped_vm_without_its_template_root()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        // A slow deploy job: the notification must not wait for it.
        env.Emulator.Faults.DelayJobs("deployVirtualMachine", TimeSpan.FromMilliseconds(300));
        var command = env.Create("failover-web01", "failover-42",
            new VmNicRequest(env.Emulator.NetworkId, "02:00:4C:4F:4F:50"), new VmNicRequest(env.Emulator.SecondNetworkId)) with
        {
            DisplayName = "web01 (failover)",
        };

        var vm = await env.SendAsync(command);

        var seen = env.Probe.Seen.ToList();
        var volumesNow = env.Emulator.Volumes();
        var operations = await OperationsAsync("create_vm");
        Assert.Multiple(() =>
        {
            Assert.That(seen, Has.Count.EqualTo(1), "one notification");
            Assert.That(seen[0].Notification, Is.EqualTo(new VirtualMachineCreatedNotification(env.ConfigId, vm.VmId, "failover-web01", "failover-42")));
            Assert.That(seen[0].DeployJobStatuses, Is.EqualTo(new[] { "pending" }), "published from the deploy job's start, before the job ended");
            Assert.That(seen[0].VolumesOnVm.Select(v => v.Type), Is.EqualTo(new[] { "ROOT" }), "published before the template ROOT was detached");
            Assert.That(seen[0].OperationVmIds, Is.EqualTo(new[] { vm.VmId }), "the create_vm row knows the VM before anyone is told");

            Assert.That(vm.State, Is.EqualTo("Stopped"));
            Assert.That(vm.Name, Is.EqualTo("failover-web01"));
            Assert.That(vm.DisplayName, Is.EqualTo("web01 (failover)"));
            Assert.That(vm.ServiceOfferingId, Is.EqualTo(env.Emulator.ServiceOfferingId), "the config's offering");
            Assert.That(vm.Nics.Select(n => (n.NetworkId, n.IsDefault)),
                Is.EqualTo(new[] { (env.Emulator.NetworkId, true), (env.Emulator.SecondNetworkId, false) }), "NICs in order, first is default");
            Assert.That(vm.Nics[0].MacAddress, Is.EqualTo("02:00:4c:4f:4f:50"), "the source MAC is kept");
            Assert.That(vm.Nics[1].IpAddress, Does.StartWith("10.2.2."));

            Assert.That(volumesNow.Where(v => v.VirtualMachineId == vm.VmId), Is.Empty, "the VM has no disk left");
            var templateRoot = seen[0].VolumesOnVm[0];
            Assert.That(volumesNow.Single(v => v.Id == templateRoot.Id).Removed, Is.True, "the template ROOT is deleted, not left behind");
            Assert.That(env.Emulator.VirtualMachineState(vm.VmId), Is.EqualTo("Stopped"));
            Assert.That(env.Emulator.Faults.CallCount("startVirtualMachine"), Is.Zero);
            Assert.That(operations, Has.Count.EqualTo(1));
            Assert.That(operations[0].Status, Is.EqualTo("completed"));
            Assert.That(operations[0].VmId, Is.EqualTo(vm.VmId));
            Assert.That(operations[0].JobId, Is.Not.Null, "the command ran in the job log");
        });
    }

    [Test]
    public async Task A_failover_vm_boots_from_a_replicated_root_and_is_destroyed_without_touching_the_volumes()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var root = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm1-disk-0", OneGiB));
        var data = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm1-disk-1", 2 * OneGiB));
        var vm = await env.SendAsync(env.Create("vm1-failover"));

        var rootMapping = await env.SendAsync(new AttachVolumeCommand(root.VolumeId, vm.VmId, AsRoot: true));
        var dataMapping = await env.SendAsync(new AttachVolumeCommand(data.VolumeId, vm.VmId));
        var started = await env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, vm.VmId));
        var running = await env.SendAsync(new GetVirtualMachineQuery(env.ConfigId, vm.VmId));
        var stopped = await env.SendAsync(new StopVirtualMachineCommand(env.ConfigId, vm.VmId));
        await env.SendAsync(new DetachVolumeCommand(data.VolumeId));
        await env.SendAsync(new DetachVolumeCommand(root.VolumeId));
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, vm.VmId));

        var after = await env.SendAsync(new GetVirtualMachineQuery(env.ConfigId, vm.VmId));
        var byName = await env.SendAsync(new FindVirtualMachineByNameQuery(env.ConfigId, "vm1-failover"));
        var volumes = await env.SendAsync(new ListVolumesQuery());
        var operations = await OperationsAsync(null);
        Assert.Multiple(() =>
        {
            Assert.That(rootMapping.CloudStackDeviceId, Is.Zero, "attached as the boot disk");
            Assert.That(rootMapping.OperationMode, Is.EqualTo("failover"));
            Assert.That(dataMapping.CloudStackDeviceId, Is.EqualTo(1));
            Assert.That(started.State, Is.EqualTo("Running"));
            Assert.That(running!.State, Is.EqualTo("Running"));
            Assert.That(stopped.State, Is.EqualTo("Stopped"));
            Assert.That(after, Is.Null, "expunged");
            Assert.That(byName, Is.Null);
            Assert.That(env.Emulator.VirtualMachineState(vm.VmId), Is.EqualTo("Expunged"));
            Assert.That(volumes.Select(v => (v.VolumeId, v.AttachedVmId)), Is.EquivalentTo(new[] { (root.VolumeId, (string?)null), (data.VolumeId, (string?)null) }));
            Assert.That(env.Emulator.Volume(root.VolumeId)!.Removed, Is.False, "the replicated volumes survive the VM");
            Assert.That(env.Emulator.Volume(data.VolumeId)!.Removed, Is.False);
            Assert.That(operations.Where(o => o.Type.EndsWith("_vm", StringComparison.Ordinal)).Select(o => (o.Type, o.Status, o.VmId)),
                Is.EqualTo(new[]
                {
                    ("create_vm", "completed", (string?)vm.VmId), ("start_vm", "completed", vm.VmId), ("stop_vm", "completed", vm.VmId),
                    ("destroy_vm", "completed", vm.VmId),
                }));
        });
    }

    [Test]
    public async Task Destroy_is_refused_while_a_managed_volume_is_attached_by_either_record()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm2-disk-0", OneGiB));
        var vm = await env.SendAsync(env.Create("vm2-failover"));
        await env.SendAsync(new AttachVolumeCommand(volume.VolumeId, vm.VmId, AsRoot: true));

        var byOurRecord = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, vm.VmId)));
        await using (var db = await OpenAsync())
        {
            // Our records lost track (a crash between OSSEA's attach and our insert): OSSEA's own view still protects the disk.
            await db.ExecuteAsync("DELETE FROM device_mappings WHERE volume_id = @id", new { id = volume.VolumeId });
            await db.ExecuteAsync("UPDATE ossea_volumes SET vm_id = NULL WHERE volume_id = @id", new { id = volume.VolumeId });
        }
        var byOssea = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, vm.VmId)));

        var failed = (await OperationsAsync("destroy_vm")).Select(o => o.Status).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(byOurRecord!.Message, Does.Contain(volume.VolumeId));
            Assert.That(byOssea!.Message, Does.Contain(volume.VolumeId));
            Assert.That(env.Emulator.Faults.CallCount("destroyVirtualMachine"), Is.Zero);
            Assert.That(env.Emulator.VirtualMachineState(vm.VmId), Is.EqualTo("Stopped"));
            Assert.That(env.Emulator.Volume(volume.VolumeId)!.VirtualMachineId, Is.EqualTo(vm.VmId));
            Assert.That(failed, Is.EqualTo(new[] { "failed", "failed" }));
        });
        Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, env.Emulator.OmaVmId)),
            "the OMA appliance is never destroyed");
        Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new StopVirtualMachineCommand(env.ConfigId, env.Emulator.OmaVmId, Forced: true)),
            "nor stopped");
        Assert.That(env.Emulator.VirtualMachineState(env.Emulator.OmaVmId), Is.EqualTo("Running"));
    }

    [Test]
    public async Task Retries_are_idempotent_create_per_owner_start_stop_and_destroy()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var first = await env.SendAsync(env.Create("vm3-failover", "failover-7"));
        var again = await env.SendAsync(env.Create("vm3-failover", "failover-7"));
        var otherOwner = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(env.Create("vm3-failover", "failover-8")));

        var stopStopped = await env.SendAsync(new StopVirtualMachineCommand(env.ConfigId, first.VmId));
        var root = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm3-disk-0", OneGiB));
        await env.SendAsync(new AttachVolumeCommand(root.VolumeId, first.VmId, AsRoot: true));
        var afterRoot = await env.SendAsync(env.Create("vm3-failover", "failover-7"));
        await env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, first.VmId));
        var startRunning = await env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, first.VmId));
        await env.SendAsync(new StopVirtualMachineCommand(env.ConfigId, first.VmId, Forced: true));
        await env.SendAsync(new DetachVolumeCommand(root.VolumeId));
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, first.VmId));
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, first.VmId));
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, Guid.NewGuid().ToString()));

        Assert.Multiple(() =>
        {
            Assert.That(again.VmId, Is.EqualTo(first.VmId), "the same owner's retry reuses the VM");
            Assert.That(afterRoot.VmId, Is.EqualTo(first.VmId));
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1));
            Assert.That(otherOwner!.Message, Does.Contain("failover-8"));
            Assert.That(env.Probe.Seen.Select(s => s.Notification.VmId).Distinct(), Is.EqualTo(new[] { first.VmId }),
                "every retry tells its owner the (same) VM id again");
            Assert.That(env.Emulator.Volume(root.VolumeId)!.Removed, Is.False, "a retry never removes a managed volume used as root");
            Assert.That(stopStopped.State, Is.EqualTo("Stopped"));
            Assert.That(startRunning.State, Is.EqualTo("Running"));
            Assert.That(env.Emulator.Faults.CallCount("startVirtualMachine"), Is.EqualTo(1));
            Assert.That(env.Emulator.Faults.CallCount("stopVirtualMachine"), Is.EqualTo(1));
            Assert.That(env.Emulator.Faults.CallCount("destroyVirtualMachine"), Is.EqualTo(1));
            Assert.That(env.Emulator.VirtualMachineState(first.VmId), Is.EqualTo("Expunged"));
        });
    }

    [Test]
    public async Task A_failed_deploy_job_still_reports_the_vm_so_the_caller_can_remove_it()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        env.Emulator.Faults.FailJobs("deployVirtualMachine", 530, "Unable to create a deployment for VM");

        var error = Assert.CatchAsync(() => env.SendAsync(env.Create("vm4-failover")));

        var seen = env.Probe.Seen.ToList();
        var operation = (await OperationsAsync("create_vm")).Single();
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("deployVirtualMachine").And.Contain("Unable to create a deployment"));
            Assert.That(seen, Has.Count.EqualTo(1), "the VM existed (in Error) and its owner heard of it");
            Assert.That(env.Emulator.VirtualMachineState(seen[0].Notification.VmId), Is.EqualTo("Error"));
            Assert.That(operation.Status, Is.EqualTo("failed"));
            Assert.That(operation.VmId, Is.EqualTo(seen[0].Notification.VmId));
            Assert.That(operation.Error, Does.Contain("deployVirtualMachine"));
        });

        // A retry cannot use a VM whose deploy failed: it says so instead of deploying a second one.
        env.Emulator.Faults.Clear();
        var retry = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(env.Create("vm4-failover")));
        Assert.That(retry!.Message, Does.Contain("Error").And.Contain("destroy it"));
        Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1));

        // The caller's rollback.
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, seen[0].Notification.VmId));
        Assert.That(env.Emulator.VirtualMachineState(seen[0].Notification.VmId), Is.EqualTo("Expunged"));
    }

    [Test]
    public async Task A_failed_root_detach_fails_the_create_after_the_notification_and_a_retry_finishes_it()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        env.Emulator.Faults.FailJobs("detachVolume", 530, "Failed to detach volume", times: 1);

        var error = Assert.CatchAsync(() => env.SendAsync(env.Create("vm5-failover")));
        var vmId = env.Probe.Seen.Single().Notification.VmId;
        var rootsAfterFailure = env.Emulator.Volumes().Where(v => v.VirtualMachineId == vmId).Select(v => v.Type).ToList();
        var retried = await env.SendAsync(env.Create("vm5-failover"));

        var operations = await OperationsAsync("create_vm");
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("detachVolume").And.Contain("Failed to detach volume"));
            Assert.That(rootsAfterFailure, Is.EqualTo(new[] { "ROOT" }), "the VM is left for the caller (or a retry)");
            Assert.That(retried.VmId, Is.EqualTo(vmId));
            Assert.That(env.Emulator.Volumes().Where(v => v.VirtualMachineId == vmId), Is.Empty, "the retry removed the template ROOT");
            Assert.That(operations.Select(o => o.Status), Is.EqualTo(new[] { "failed", "completed" }));
            Assert.That(operations.Select(o => o.VmId), Is.All.EqualTo(vmId));
        });
    }

    [Test]
    public async Task A_template_root_that_cannot_be_deleted_is_named_in_the_error_and_deleted_by_the_retry()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        env.Emulator.Faults.FailAllCalls("deleteVolume", 530, "Failed to delete volume");

        var error = Assert.CatchAsync(() => env.SendAsync(env.Create("vm14-failover")));
        var seen = env.Probe.Seen.Single();
        var templateRoot = seen.VolumesOnVm.Single();
        env.Emulator.Faults.Clear();
        var retried = await env.SendAsync(env.Create("vm14-failover"));

        Assert.Multiple(async () =>
        {
            Assert.That(error!.Message, Does.Contain(templateRoot.Id).And.Contain("a retry of this create deletes it"));
            Assert.That(env.Emulator.Volume(templateRoot.Id)!.VirtualMachineId, Is.Null, "detached");
            Assert.That(env.Emulator.Volume(templateRoot.Id)!.Removed, Is.True, "the retry found it by its ROOT-<n> name and deleted it");
            Assert.That(retried.VmId, Is.EqualTo(seen.Notification.VmId), "the VM itself is usable after a retry");
            Assert.That((await OperationsAsync("create_vm")).Select(o => o.Status), Is.EqualTo(new[] { "failed", "completed" }));
        });
    }

    [Test]
    public async Task Start_failures_are_clear_and_recorded()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var vm = await env.SendAsync(env.Create("vm6-failover"));

        // Without a root disk OSSEA cannot boot it.
        var noRoot = Assert.CatchAsync(() => env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, vm.VmId)));
        var root = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm6-disk-0", OneGiB));
        await env.SendAsync(new AttachVolumeCommand(root.VolumeId, vm.VmId, AsRoot: true));
        env.Emulator.Faults.FailJobs("startVirtualMachine", 533, "Insufficient capacity to start the VM");
        var noCapacity = Assert.CatchAsync(() => env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, vm.VmId)));
        var unknown = Assert.ThrowsAsync<NotFoundException>(() => env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, Guid.NewGuid().ToString())));

        var operations = await OperationsAsync("start_vm");
        Assert.Multiple(() =>
        {
            Assert.That(noRoot!.Message, Does.Contain("startVirtualMachine").And.Contain("no ROOT volume"));
            Assert.That(noCapacity!.Message, Does.Contain("533").And.Contain("Insufficient capacity"));
            Assert.That(unknown, Is.Not.Null);
            Assert.That(operations.Select(o => o.Status), Is.EqualTo(new[] { "failed", "failed", "failed" }));
            Assert.That(operations.All(o => !string.IsNullOrEmpty(o.Error)));
            Assert.That(env.Emulator.VirtualMachineState(vm.VmId), Is.EqualTo("Stopped"));
        });
    }

    [Test]
    public async Task A_lost_deploy_answer_yields_one_vm_found_by_name()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        env.Emulator.Faults.LoseAnswers("deployVirtualMachine");

        var vm = await env.SendAsync(env.Create("vm7-failover"));

        var byName = await env.SendAsync(new FindVirtualMachineByNameQuery(env.ConfigId, "vm7-failover"));
        Assert.Multiple(() =>
        {
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1), "never sent twice");
            Assert.That(byName!.VmId, Is.EqualTo(vm.VmId));
            Assert.That(env.Probe.Seen.Select(s => s.Notification.VmId), Is.EqualTo(new[] { vm.VmId }), "published once the VM was found");
            Assert.That(env.Probe.Seen.Single().VolumesOnVm.Select(v => v.Type), Is.EqualTo(new[] { "ROOT" }), "still before the ROOT detach");
            Assert.That(env.Emulator.Volumes().Where(v => v.VirtualMachineId == vm.VmId), Is.Empty);
            Assert.That(vm.State, Is.EqualTo("Stopped"));
        });
    }

    [Test]
    public async Task Lost_start_stop_and_destroy_answers_are_resolved_by_the_vm_state()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var root = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm15-disk-0", OneGiB));
        var vm = await env.SendAsync(env.Create("vm15-failover"));
        await env.SendAsync(new AttachVolumeCommand(root.VolumeId, vm.VmId, AsRoot: true));

        env.Emulator.Faults.LoseAnswers("startVirtualMachine");
        var started = await env.SendAsync(new StartVirtualMachineCommand(env.ConfigId, vm.VmId));
        env.Emulator.Faults.LoseAnswers("stopVirtualMachine");
        var stopped = await env.SendAsync(new StopVirtualMachineCommand(env.ConfigId, vm.VmId));
        await env.SendAsync(new DetachVolumeCommand(root.VolumeId));
        env.Emulator.Faults.LoseAnswers("destroyVirtualMachine");
        await env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, vm.VmId));

        var operations = await OperationsAsync(null);
        Assert.Multiple(() =>
        {
            Assert.That(started.State, Is.EqualTo("Running"));
            Assert.That(stopped.State, Is.EqualTo("Stopped"));
            Assert.That(env.Emulator.VirtualMachineState(vm.VmId), Is.EqualTo("Expunged"));
            Assert.That(env.Emulator.Faults.CallCount("startVirtualMachine"), Is.InRange(1, 2), "resent at most once");
            Assert.That(env.Emulator.Faults.CallCount("destroyVirtualMachine"), Is.InRange(1, 2));
            Assert.That(operations.Where(o => o.Type is "start_vm" or "stop_vm" or "destroy_vm").Select(o => o.Status), Is.All.EqualTo("completed"));
        });
    }

    [Test]
    public async Task Parallel_creates_for_one_owner_deploy_one_vm()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var created = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => env.SendAsync(env.Create("vm16-failover", "failover-16"))));
        Assert.Multiple(() =>
        {
            Assert.That(created.Select(v => v.VmId).Distinct().Count(), Is.EqualTo(1));
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1));
            Assert.That(env.Emulator.Faults.CallCount("detachVolume"), Is.EqualTo(1), "the template ROOT was removed once");
        });
    }

    [Test]
    public async Task A_failing_notification_handler_fails_the_create_but_the_vm_stays_findable()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        env.Probe.FailWith = new InvalidOperationException("the failover job row is gone");

        var error = Assert.CatchAsync(() => env.SendAsync(env.Create("vm8-failover")));

        var byName = await env.SendAsync(new FindVirtualMachineByNameQuery(env.ConfigId, "vm8-failover"));
        Assert.Multiple(async () =>
        {
            Assert.That(error!.Message, Does.Contain("the failover job row is gone"));
            Assert.That(byName, Is.Not.Null);
            Assert.That((await OperationsAsync("create_vm")).Single().Status, Is.EqualTo("failed"));
        });
    }

    [Test]
    public async Task A_customized_offering_takes_cpu_and_memory_and_a_fixed_one_refuses_them()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var custom = await env.SendAsync(env.Create("vm9-failover") with
        {
            ServiceOfferingId = env.Emulator.CustomServiceOfferingId, CpuNumber = 4, MemoryMb = 8192,
        });
        var missing = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm10-failover") with
        {
            ServiceOfferingId = env.Emulator.CustomServiceOfferingId,
        }));
        var fixedWithCpu = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm11-failover") with { CpuNumber = 2 }));
        var unknownOffering = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm12-failover") with
        {
            ServiceOfferingId = Guid.NewGuid().ToString(),
        }));

        Assert.Multiple(() =>
        {
            Assert.That(custom.ServiceOfferingId, Is.EqualTo(env.Emulator.CustomServiceOfferingId));
            Assert.That(missing!.Errors.Values.SelectMany(e => e), Has.Some.Contains("customized"));
            Assert.That(fixedWithCpu!.Errors.Values.SelectMany(e => e), Has.Some.Contains("not customized"));
            Assert.That(unknownOffering!.Errors.Values.SelectMany(e => e), Has.Some.Contains("no service offering"));
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task Names_that_break_the_ossea_host_name_rule_are_refused_before_any_call()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        foreach (var name in new[] { "9lives", "web-", "-web", "web_01", "", new string('a', 64) })
        {
            var error = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create(name)), name);
            Assert.That(error!.Errors.Keys, Has.Member("Name"), name);
        }
        var longest = await env.SendAsync(env.Create(new string('a', 63)));
        Assert.Multiple(() =>
        {
            Assert.That(longest.Name, Has.Length.EqualTo(63));
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.EqualTo(1), "only the valid name reached OSSEA");
        });
    }

    [Test]
    public async Task Nics_and_ids_are_validated()
    {
        await using var env = await VmTestEnvironment.StartAsync(ConnectionString);
        var noNics = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(new CreateVirtualMachineCommand(env.ConfigId, "vm13", "o", [])));
        var badMac = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm13", "o", new VmNicRequest(env.Emulator.NetworkId, "not-a-mac"))));
        var sameMac = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm13", "o",
            new VmNicRequest(env.Emulator.NetworkId, "02:00:00:00:00:01"), new VmNicRequest(env.Emulator.SecondNetworkId, "02:00:00:00:00:01"))));
        var noOwner = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(env.Create("vm13", "")));
        var noVmId = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(new DestroyVirtualMachineCommand(env.ConfigId, "")));
        var unknownConfig = Assert.ThrowsAsync<NotFoundException>(() => env.SendAsync(new StopVirtualMachineCommand(env.ConfigId + 100, "x")));
        Assert.Multiple(() =>
        {
            Assert.That(noNics!.Errors.Keys, Has.Member("Nics"));
            Assert.That(badMac!.Errors.Keys, Has.Some.Contains("MacAddress"));
            Assert.That(sameMac!.Errors.Keys, Has.Member("Nics"));
            Assert.That(noOwner!.Errors.Keys, Has.Member("Owner"));
            Assert.That(noVmId!.Errors.Keys, Has.Member("VmId"));
            Assert.That(unknownConfig, Is.Not.Null);
            Assert.That(env.Emulator.Faults.CallCount("deployVirtualMachine"), Is.Zero);
        });
    }

    private async Task<List<VolumeOperationView>> OperationsAsync(string? type)
    {
        await using var db = await OpenAsync();
        return (await db.QueryAsync<VolumeOperationView>("""
            SELECT id AS Id, type AS Type, status AS Status, volume_id AS VolumeId, vm_id AS VmId, request AS Request, response AS Response,
                   error AS Error, job_id AS JobId, correlation_id AS CorrelationId, created_at AS CreatedAt, completed_at AS CompletedAt
            FROM volume_operations WHERE (@type IS NULL OR type = @type) ORDER BY created_at, id
            """, new { type })).ToList();
    }
}
