using System.Net;
using System.Text.Json;
using Dapper;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

public sealed partial class FailoverTests
{
    private static readonly string[] TestSteps =
        ["preflight", "hold replication", "snapshot volumes", "detach volumes from the OMA", "create VM", "attach root volume", "attach data volumes", "start VM"];

    [Test]
    public async Task A_test_failover_boots_the_vm_and_its_cleanup_lets_the_next_sync_copy_only_the_changes()
    {
        await using var r = await ReplicateAsync("vma-fo-test");
        var spec = await r.Env.SendAsync(new MigrateKit.Modules.Replication.Contracts.GetSourceVmSpecQuery(r.Id));
        var powerBefore = (await Sim.InventoryAsync(CancellationToken.None)).Single(v => v.Moref == Vm.Ref.Value).PowerState;
        var id = await StartFailoverAsync(r);
        var done = await WaitFailoverAsync(r, id, "completed", "failed", "rollback_failed");

        var vmId = done.GetProperty("destinationVmId").GetString();
        var vm = await r.Env.SendAsync(new GetVirtualMachineQuery(r.Env.ConfigId, vmId!));
        var volumes = await VolumesAsync(r);
        var rootRow = (await VolumeRowsAsync(r.Id))[Vm.Disks.Min(d => d.DeviceKey)];
        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(done.GetProperty("status").GetString(), Is.EqualTo("completed"), done.ToString());
            Assert.That(done.GetProperty("jobType").GetString(), Is.EqualTo("test"));
            Assert.That(done.GetProperty("sourceVmId").GetString(), Is.EqualTo(Vm.Ref.Value));
            Assert.That(done.GetProperty("currentStep").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(done.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()),
                Is.EqualTo(new[] { "created", "created", "created" }));
            Assert.That(vm!.State, Is.EqualTo("Running"));
            Assert.That(vm.Name, Is.EqualTo(done.GetProperty("vmName").GetString()).And.StartsWith("mk-multi-disk-"));
            Assert.That(vm.Nics, Has.Count.EqualTo(2));
            Assert.That(vm.Nics[0].MacAddress, Is.EqualTo(spec!.Nics.OrderBy(n => n.DeviceKey).First().MacAddress).IgnoreCase,
                "the DVS NIC kept its MAC (keepMac)");
            foreach (var volume in volumes)
            {
                var inCloud = r.Env.Emulator.Volume(volume.VolumeId)!;
                Assert.That(inCloud.VirtualMachineId, Is.EqualTo(vmId), $"volume {volume.VolumeId} on the test VM");
                Assert.That(volume.Export, Is.Null, "no NBD export while the test VM owns the volume");
            }
            var root = volumes.Single(v => v.Id == rootRow);
            Assert.That(r.Env.Emulator.Volume(root.VolumeId)!.DeviceId, Is.EqualTo(0), "the first disk is the root volume");
            Assert.That(await HoldReasonAsync(r), Is.EqualTo($"failover {id}"), "no sync while the test VM uses the volumes");
            Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).PowerState, Is.EqualTo(powerBefore), "the source VM is never touched");
            Assert.That(await StepsAsync(r, "failover.test", id), Is.EqualTo(TestSteps.Select(s => (s, "completed", (string?)null)).ToList()));
        });

        // The test VM writes to every disk; the cleanup must take that back.
        foreach (var volume in volumes)
        {
            await using var file = new FileStream(r.Env.Emulator.VolumeFileOf(volume.VolumeId), FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
            file.Position = 3 * MiB;
            await file.WriteAsync(Enumerable.Repeat((byte)0xAB, 64 * 1024).ToArray());
        }
        var (status, claimed) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        Assert.That(status, Is.EqualTo(HttpStatusCode.Accepted), claimed.ToString());
        Assert.That(claimed.GetProperty("status").GetString(), Is.EqualTo("cleaning_up"));
        var cleaned = await WaitFailoverAsync(r, id, "cleaned_up", "cleanup_failed");
        Assert.That(cleaned.GetProperty("status").GetString(), Is.EqualTo("cleaned_up"), cleaned.ToString());
        Assert.Multiple(async () =>
        {
            Assert.That(cleaned.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
            Assert.That(cleaned.GetProperty("destinationVmId").GetString(), Is.EqualTo(vmId));
            Assert.That(await HoldReasonAsync(r), Is.Null);
            Assert.That((await StepsAsync(r, "failover.cleanup", id)).Select(s => s.Status), Has.All.EqualTo("completed"));
        });
        await AssertNoVmAsync(r, cleaned, "after cleanup");
        await AssertBackOnOmaAsync(r, "after cleanup");
        await AssertTargetsAsync(r.Env, r.Id, r.Disks, ImageSize); // reverted: what the test VM wrote is gone

        // The next sync is incremental from the kept change ids: only the changed extent crosses the tunnel.
        var before = await GetReplicationAsync(r.Admin, r.Id);
        var history = await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id", new { id = r.Id });
        var change = await QueryAsync<string>("SELECT disk_change_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
            new { id = r.Id, key = Key(r.Disks[1].Key) });
        TestImages.Fill(r.Disks[1].Image, [(6 * MiB, 256 * 1024)]);
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, r.Disks[1].Key, change, [(6 * MiB, 256 * 1024)]));
        var (syncStatus, _) = await PostAsync(r.Admin, $"/api/v1/replications/{r.Id}/sync", null);
        Assert.That(syncStatus, Is.EqualTo(HttpStatusCode.Accepted));
        var after = await WaitIdleAsync(r.Admin, r.Id, LastSync(before));
        await using var conn = await OpenAsync();
        var rows = (await conn.QueryAsync<(string DiskId, string SyncType, long Bytes)>(
            "SELECT disk_id, sync_type, bytes_transferred FROM cbt_history WHERE job_id = @id ORDER BY id LIMIT 100 OFFSET @skip",
            new { id = r.Id, skip = history })).ToDictionary(h => h.DiskId);
        Assert.Multiple(() =>
        {
            Assert.That(after.GetProperty("replicationType").GetString(), Is.EqualTo("incremental"));
            Assert.That(rows.Values.Select(h => h.SyncType), Has.All.EqualTo("incremental"), "no full resync after the cleanup");
            Assert.That(rows[Key(r.Disks[1].Key)].Bytes, Is.EqualTo(256 * 1024), "only the changed extent");
            Assert.That(rows[Key(r.Disks[0].Key)].Bytes + rows[Key(r.Disks[2].Key)].Bytes, Is.Zero, "nothing changed on the other disks");
        });
        await AssertTargetsAsync(r.Env, r.Id, r.Disks, ImageSize);
    }

    [Test]
    public async Task A_live_failover_runs_a_final_sync_boots_the_vm_for_good_and_ends_the_replication()
    {
        await using var r = await ReplicateAsync("vma-fo-live", ("Replication:ShutdownGrace", "00:00:05"));
        // Written after the last sync: only the final sync can carry it over.
        var change = await QueryAsync<string>("SELECT disk_change_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
            new { id = r.Id, key = Key(r.Disks[0].Key) });
        TestImages.Fill(r.Disks[0].Image, [(12 * MiB, 512 * 1024)]);
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, r.Disks[0].Key, change, [(12 * MiB, 512 * 1024)]));

        var id = await StartFailoverAsync(r, "live",
            new { replicationId = r.Id, networkMappings = Mappings(r), shutdownSource = true, vmName = "mk-multi-disk-cutover" });
        var done = await WaitFailoverAsync(r, id, "completed", "failed", "rollback_failed");
        Assert.That(done.GetProperty("status").GetString(), Is.EqualTo("completed"), done.ToString());
        var vmId = done.GetProperty("destinationVmId").GetString()!;
        var replication = await GetReplicationAsync(r.Admin, r.Id);
        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        var volumes = await VolumesAsync(r);
        Assert.Multiple(async () =>
        {
            Assert.That(done.GetProperty("jobType").GetString(), Is.EqualTo("live"));
            Assert.That(done.GetProperty("snapshots").GetArrayLength(), Is.Zero, "a live failover takes no snapshots");
            Assert.That((await r.Env.SendAsync(new GetVirtualMachineQuery(r.Env.ConfigId, vmId)))!.State, Is.EqualTo("Running"));
            Assert.That((await r.Env.SendAsync(new GetVirtualMachineQuery(r.Env.ConfigId, vmId)))!.Name, Is.EqualTo("mk-multi-disk-cutover"));
            Assert.That(replication.GetProperty("status").GetString(), Is.EqualTo("failed_over"));
            Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).PowerState, Is.EqualTo("poweredOff"), "shut down as the request asked");
            Assert.That(await QueryAsync<string>("SELECT operation FROM jobs WHERE job_type = 'replication.final-sync' AND entity_id = @id",
                new { id = r.Id.ToString() }), Does.Contain("shut the source VM down"), "through the final sync, as the request asked");
            Assert.That(volumes.Select(v => r.Env.Emulator.Volume(v.VolumeId)!.VirtualMachineId), Has.All.EqualTo(vmId));
            Assert.That((await StepsAsync(r, "failover.live", id)).Select(s => s.Name), Is.EqualTo(new[]
            {
                "preflight", "hold replication", "final sync", "detach volumes from the OMA", "create VM", "attach root volume",
                "attach data volumes", "start VM", "mark replication failed over",
            }));
        });
        // The VM boots what the final sync copied: the disk files equal the source images.
        var rows = await VolumeRowsAsync(r.Id);
        foreach (var (key, image) in r.Disks)
        {
            var volume = volumes.Single(v => v.Id == rows[key]);
            await using var run = await ExternalProcess.RunAsync("qemu-img",
            [
                "compare", "--image-opts", $"driver=raw,file.driver=file,file.filename={image}",
                $"driver=raw,size={ImageSize},file.driver=file,file.filename={r.Env.Emulator.VolumeFileOf(volume.VolumeId)}",
            ], TimeSpan.FromSeconds(60));
            Assert.That(run.ExitCode, Is.Zero, $"disk {key}: {run.StandardOutput}{run.StandardError}");
        }

        // A live failover is final: no cleanup, no second failover, and the job keeps its volumes.
        var (cleanup, cleanupBody) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        var (again, _) = await PostAsync(r.Admin, "/api/v1/failovers/live", new { replicationId = r.Id, networkMappings = Mappings(r) });
        using var delete = await r.Admin.DeleteAsync($"/api/v1/replications/{r.Id}");
        Assert.Multiple(() =>
        {
            Assert.That(cleanup, Is.EqualTo(HttpStatusCode.Conflict), cleanupBody.ToString());
            Assert.That(again, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(delete.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        });
    }

    [Test]
    public async Task The_destination_vm_id_is_recorded_as_soon_as_ossea_reports_the_vm_even_when_a_later_step_fails()
    {
        await using var r = await ReplicateAsync("vma-fo-dest");
        var faults = r.Env.Emulator.Faults;

        // 1. The deploy job itself is slow and then fails: the id is recorded while it still runs.
        faults.DelayJobs("deployVirtualMachine", TimeSpan.FromSeconds(2));
        faults.FailJobs("deployVirtualMachine", times: 1);
        var first = await StartFailoverAsync(r);
        string? seen = null;
        string? stepWhenSeen = null;
        await WaitAsync(async () =>
        {
            var view = await GetFailoverAsync(r, first);
            (seen, stepWhenSeen) = (view.GetProperty("destinationVmId").GetString(), view.GetProperty("currentStep").GetString());
            return seen is not null;
        }, TimeSpan.FromSeconds(30), "destination_vm_id written");
        var stateWhenSeen = r.Env.Emulator.VirtualMachineState(seen!);
        var failed = await WaitFailoverAsync(r, first, "failed", "rollback_failed", "completed");
        Assert.Multiple(() =>
        {
            Assert.That(stepWhenSeen, Is.EqualTo("create VM"), "recorded while the deploy job was still running");
            Assert.That(stateWhenSeen, Is.Not.Null, "the emulator knew the VM");
            Assert.That(failed.GetProperty("status").GetString(), Is.EqualTo("failed"), failed.ToString());
            Assert.That(failed.GetProperty("destinationVmId").GetString(), Is.EqualTo(seen), "kept after the failure");
            Assert.That(failed.GetProperty("errorMessage").GetString(), Does.Contain("create VM failed").And.Contain($"VM {seen} destroyed"));
        });
        await AssertNoVmAsync(r, failed, "deploy failed");
        await AssertBackOnOmaAsync(r, "deploy failed");

        // 2. The VM is created, then attaching its root volume fails: the id was written before the attach.
        faults.Clear();
        faults.FailJobs("attachVolume", times: 1);
        var second = await StartFailoverAsync(r);
        var failedAttach = await WaitFailoverAsync(r, second, "failed", "rollback_failed", "completed");
        var vmId = failedAttach.GetProperty("destinationVmId").GetString();
        var steps = await StepsAsync(r, "failover.test", second);
        Assert.Multiple(() =>
        {
            Assert.That(failedAttach.GetProperty("status").GetString(), Is.EqualTo("failed"), failedAttach.ToString());
            Assert.That(vmId, Is.Not.Null.And.Not.EqualTo(seen));
            Assert.That(r.Env.Emulator.VirtualMachineState(vmId!), Is.EqualTo("Expunged"), "the recorded VM is the one OSSEA had, destroyed by the rollback");
            Assert.That(steps.Single(s => s.Name == "create VM").Status, Is.EqualTo("completed"));
            Assert.That(steps.Single(s => s.Name == "attach root volume").Status, Is.EqualTo("failed"));
        });
        await AssertNoVmAsync(r, failedAttach, "attach root failed");
        await AssertBackOnOmaAsync(r, "attach root failed");
        Assert.That(await HoldReasonAsync(r), Is.Null, "the rollback released the replication");
    }
}
