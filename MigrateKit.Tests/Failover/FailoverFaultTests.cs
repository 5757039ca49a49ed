using System.Net;
using MigrateKit.Tests.Support.Ossea;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

public sealed partial class FailoverTests
{
    [Test]
    public async Task An_ossea_failure_at_each_step_rolls_back_to_volumes_on_the_oma_with_exports_and_no_vm()
    {
        await using var r = await ReplicateAsync("vma-fo-faults");
        var faults = r.Env.Emulator.Faults;
        (string Step, Action<OsseaEmulatorFaults> Inject)[] cases =
        [
            ("snapshot volumes", f => f.FailJobs("createSnapshot", times: 1)),
            ("detach volumes from the OMA", f => f.FailJobs("detachVolume", times: 1)),
            ("create VM", f => f.FailJobs("deployVirtualMachine", times: 1)),
            ("attach root volume", f => f.FailJobs("attachVolume", times: 1)),
            // The second attach of the failover is its first data volume (the first is the root).
            ("attach data volumes", f => f.FailNthCall("attachVolume", f.CallCount("attachVolume") + 2, 431, "Emulated failure of attachVolume")),
            ("start VM", f => f.FailJobs("startVirtualMachine", times: 1)),
        ];
        foreach (var (step, inject) in cases)
        {
            faults.Clear();
            inject(faults);
            var id = await StartFailoverAsync(r);
            var failed = await WaitFailoverAsync(r, id, "failed", "rollback_failed", "completed");
            var steps = await StepsAsync(r, "failover.test", id);
            Assert.Multiple(async () =>
            {
                Assert.That(failed.GetProperty("status").GetString(), Is.EqualTo("failed"), $"{step}: {failed}");
                Assert.That(failed.GetProperty("errorMessage").GetString(), Does.StartWith($"{step} failed").And.Contain("Rolled back"), step);
                Assert.That(steps.Where(s => s.Status == "failed").Select(s => s.Name), Is.EqualTo(new[] { step }), $"{step}: only it failed");
                Assert.That(steps.Where(s => s.Name.StartsWith("rollback", StringComparison.Ordinal)).Select(s => s.Status), Has.All.EqualTo("completed"), step);
                Assert.That(failed.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"), step);
                Assert.That(await HoldReasonAsync(r), Is.Null, $"{step}: replication released");
            });
            if (step == "start VM")
            {
                Assert.That(steps.Select(s => s.Name), Does.Contain("rollback: revert volumes to their snapshots"), "a VM that may have run is reverted");
            }
            await AssertNoVmAsync(r, failed, step);
            await AssertBackOnOmaAsync(r, step);
        }
        faults.Clear();
        await AssertTargetsAsync(r.Env, r.Id, r.Disks, ImageSize);
        var (sync, _) = await PostAsync(r.Admin, $"/api/v1/replications/{r.Id}/sync", null);
        Assert.That(sync, Is.EqualTo(HttpStatusCode.Accepted), "the replication goes on after the failed failovers");
        await WaitIdleAsync(r.Admin, r.Id, LastSync(await GetReplicationAsync(r.Admin, r.Id)));
    }

    [Test]
    public async Task A_cleanup_that_failed_is_retried_safely_and_then_the_replication_can_be_deleted()
    {
        await using var r = await ReplicateAsync("vma-fo-retry");
        var id = await StartFailoverAsync(r);
        var completed = await WaitFailoverAsync(r, id, "completed", "failed", "rollback_failed");
        Assert.That(completed.GetProperty("status").GetString(), Is.EqualTo("completed"), completed.ToString());

        r.Env.Emulator.Faults.FailJobs("revertSnapshot", times: 1);
        var (first, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        var failed = await WaitFailoverAsync(r, id, "cleanup_failed", "cleaned_up");
        using (var refused = await r.Admin.DeleteAsync($"/api/v1/replications/{r.Id}"))
        {
            Assert.Multiple(async () =>
            {
                Assert.That(first, Is.EqualTo(HttpStatusCode.Accepted));
                Assert.That(failed.GetProperty("status").GetString(), Is.EqualTo("cleanup_failed"), failed.ToString());
                Assert.That(failed.GetProperty("errorMessage").GetString(), Does.Contain("revert volumes to their snapshots").And.Contain("cleanup again"));
                Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "a replication with an unfinished failover is not deleted");
                Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain(id.ToString()));
            });
        }

        var (retry, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        var cleaned = await WaitFailoverAsync(r, id, "cleaned_up", "cleanup_failed");
        Assert.Multiple(() =>
        {
            Assert.That(retry, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(cleaned.GetProperty("status").GetString(), Is.EqualTo("cleaned_up"), cleaned.ToString());
            Assert.That(cleaned.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
        });
        await AssertNoVmAsync(r, cleaned, "after the retried cleanup");
        await AssertBackOnOmaAsync(r, "after the retried cleanup");
        await AssertTargetsAsync(r.Env, r.Id, r.Disks, ImageSize);
        var (again, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        Assert.That(again, Is.EqualTo(HttpStatusCode.Conflict), "a cleaned-up failover has nothing left to clean");

        using var delete = await r.Admin.DeleteAsync($"/api/v1/replications/{r.Id}");
        Assert.That(delete.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await delete.Content.ReadAsStringAsync());
        using var gone = await r.Admin.GetAsync($"/api/v1/failovers/{id}");
        Assert.That(gone.StatusCode, Is.EqualTo(HttpStatusCode.NotFound), "its finished failovers went with it");
    }

    [Test]
    public async Task A_rollback_that_fails_keeps_the_replication_held_and_a_cleanup_finishes_it()
    {
        await using var r = await ReplicateAsync("vma-fo-rbfail");
        var faults = r.Env.Emulator.Faults;
        faults.FailJobs("startVirtualMachine", times: 1);
        faults.FailJobs("revertSnapshot", times: 1);
        var id = await StartFailoverAsync(r);
        var failed = await WaitFailoverAsync(r, id, "rollback_failed", "failed", "completed");
        var steps = await StepsAsync(r, "failover.test", id);
        Assert.Multiple(async () =>
        {
            Assert.That(failed.GetProperty("status").GetString(), Is.EqualTo("rollback_failed"), failed.ToString());
            Assert.That(failed.GetProperty("errorMessage").GetString(), Does.StartWith("start VM failed")
                .And.Contain("Rollback failed at 'rollback: revert volumes to their snapshots'").And.Contain("destroyed").And.Contain("/cleanup"));
            Assert.That(steps.Where(s => s.Status == "failed").Select(s => s.Name),
                Is.EqualTo(new[] { "start VM", "rollback: revert volumes to their snapshots" }));
            Assert.That(steps.Select(s => s.Name), Does.Not.Contain("rollback: release replication"), "it stopped at the failed step");
            Assert.That(await HoldReasonAsync(r), Is.EqualTo($"failover {id}"), "no sync into volumes in an unknown state");
        });
        var (second, _) = await PostAsync(r.Admin, "/api/v1/failovers/test", new { replicationId = r.Id, networkMappings = Mappings(r) });
        Assert.That(second, Is.EqualTo(HttpStatusCode.Conflict), "the VM's slot stays taken until the undo is finished");

        var (cleanup, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
        var cleaned = await WaitFailoverAsync(r, id, "cleaned_up", "cleanup_failed");
        Assert.Multiple(async () =>
        {
            Assert.That(cleanup, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(cleaned.GetProperty("status").GetString(), Is.EqualTo("cleaned_up"), cleaned.ToString());
            Assert.That(cleaned.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
            Assert.That(await HoldReasonAsync(r), Is.Null);
        });
        await AssertNoVmAsync(r, cleaned, "after the cleanup of a failed rollback");
        await AssertBackOnOmaAsync(r, "after the cleanup of a failed rollback");
        await AssertTargetsAsync(r.Env, r.Id, r.Disks, ImageSize);
    }

    [Test]
    public async Task A_windows_guest_without_the_virtio_tools_fails_a_clear_step_and_is_rolled_back()
    {
        await using var r = await ReplicateAsync("vma-fo-win");
        await ExecuteAsync("""
            UPDATE replication_jobs SET source_vm_spec = JSON_SET(source_vm_spec, '$.guestId', 'windows2019srv_64Guest',
                   '$.guestFullName', 'Microsoft Windows Server 2019 (64-bit)') WHERE id = @id
            """, new { id = r.Id });
        var id = await StartFailoverAsync(r);
        var failed = await WaitFailoverAsync(r, id, "failed", "rollback_failed", "completed");
        var steps = await StepsAsync(r, "failover.test", id);
        var error = failed.GetProperty("errorMessage").GetString();
        var hasTool = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Any(d => File.Exists(Path.Combine(d, "virt-customize")));
        Assert.Multiple(async () =>
        {
            Assert.That(failed.GetProperty("status").GetString(), Is.EqualTo("failed"), failed.ToString());
            Assert.That(error, Does.StartWith("inject VirtIO drivers failed").And.Contain("no-virtio-win.iso").And.Contain("Failover:VirtioWinIso"));
            if (!hasTool)
            {
                Assert.That(error, Does.Contain("virt-customize is not installed"));
            }
            Assert.That(steps.Single(s => s.Name == "inject VirtIO drivers").Status, Is.EqualTo("failed"));
            Assert.That(steps.Select(s => s.Name), Does.Not.Contain("create VM"), "no VM without the drivers");
            Assert.That(failed.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
            Assert.That(await HoldReasonAsync(r), Is.Null);
        });
        await AssertNoVmAsync(r, failed, "virtio");
        await AssertBackOnOmaAsync(r, "virtio");
    }
}
