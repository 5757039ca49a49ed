using System.Net.Http.Json;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

public sealed partial class FailoverTests
{
    [Test]
    public async Task A_failover_cut_off_by_an_oma_restart_is_rolled_back_when_the_oma_starts_again()
    {
        var r = await ReplicateAsync("vma-fo-restart");
        OmaTestHost? second = null;
        var firstStopped = false;
        try
        {
            // The start job takes a while: the OMA stops while the failover waits for it.
            r.Env.Emulator.Faults.DelayJobs("startVirtualMachine", TimeSpan.FromSeconds(2));
            var id = await StartFailoverAsync(r);
            await WaitAsync(async () => (await GetFailoverAsync(r, id)).GetProperty("currentStep").GetString() == "start VM",
                TimeSpan.FromSeconds(30), "the failover reached its start step");
            var vmId = await QueryAsync<string>("SELECT destination_vm_id FROM failover_jobs WHERE id = @id", new { id });
            firstStopped = true;
            await r.Env.Host.DisposeAsync();
            var statusWhileDown = await QueryAsync<string>("SELECT status FROM failover_jobs WHERE id = @id", new { id });
            // OSSEA finished the start meanwhile: the test VM runs (and may write) while no OMA watches.
            await WaitAsync(() => Task.FromResult(r.Env.Emulator.VirtualMachineState(vmId) == "Running"), TimeSpan.FromSeconds(30), "the VM started");

            second = await RestartOmaAsync(r);
            using var admin = await second.CreateAdminClientAsync("after-restart");
            var recovered = await WaitFailoverAsync(admin, id, "failed", "rollback_failed");
            var recovery = await QueryAsync<string>(
                "SELECT status FROM jobs WHERE job_type = 'failover.recover' AND entity_id = @id", new { id = id.ToString() });
            Assert.Multiple(async () =>
            {
                Assert.That(statusWhileDown, Is.EqualTo("running"), "a stopping OMA leaves the failover as it was");
                Assert.That(recovered.GetProperty("status").GetString(), Is.EqualTo("failed"), recovered.ToString());
                Assert.That(recovered.GetProperty("errorMessage").GetString(),
                    Does.StartWith("interrupted: the OMA stopped while this failover ran at step 'start VM'")
                        .And.Contain($"VM {vmId} stopped").And.Contain("reverted"));
                Assert.That(recovery, Is.EqualTo("completed"));
                Assert.That(r.Env.Emulator.VirtualMachineState(vmId), Is.EqualTo("Expunged"));
                Assert.That((await admin.GetFromJsonAsync<System.Text.Json.JsonElement>($"/api/v1/replications/{r.Id}")).GetProperty("holdReason").GetString(),
                    Is.Null);
            });
            await AssertNoVmAsync(r, recovered, "after the restart", second);
            await AssertBackOnOmaAsync(r, "after the restart", second);
        }
        finally
        {
            await TearDownAsync(r, firstStopped, second);
        }
    }

    /// <summary>Stops everything a restart test started, whichever OMA is still running.</summary>
    private static async Task TearDownAsync(Replicated r, bool firstStopped, OmaTestHost? second)
    {
        r.Admin.Dispose();
        await r.Agent.DisposeAsync();
        if (!firstStopped)
        {
            // Never leave an OMA running: its workers would treat the next test's failovers as interrupted.
            await r.Env.Host.DisposeAsync();
        }
        if (second is not null)
        {
            await second.DisposeAsync();
        }
        await r.Env.Emulator.DisposeAsync();
    }

    /// <summary>Another OMA process on the same database and OSSEA (the settings OmaWithOssea gives the first one).</summary>
    private static Task<OmaTestHost> RestartOmaAsync(Replicated r)
    {
        var settings = OmaWithOssea.SettingsFor(r.Env.Emulator);
        settings["Failover:ScanInterval"] = "00:00:00.200";
        settings["Cleanup:ScanInterval"] = "00:00:00.200";
        settings["Replication:ScanInterval"] = "00:00:00.200";
        return OmaTestHost.StartAsync(r.ConnectionString, settings);
    }

    [Test]
    public async Task A_cleanup_cut_off_by_an_oma_restart_is_finished_when_the_oma_starts_again()
    {
        var r = await ReplicateAsync("vma-fo-restart-clean");
        OmaTestHost? second = null;
        var firstStopped = false;
        try
        {
            var id = await StartFailoverAsync(r);
            var completed = await WaitFailoverAsync(r, id, "completed", "failed", "rollback_failed");
            Assert.That(completed.GetProperty("status").GetString(), Is.EqualTo("completed"), completed.ToString());
            // The revert is slow: the OMA stops in the middle of the cleanup.
            r.Env.Emulator.Faults.DelayJobs("revertSnapshot", TimeSpan.FromSeconds(1));
            var (claimed, _) = await PostAsync(r.Admin, $"/api/v1/failovers/{id}/cleanup", null);
            Assert.That(claimed, Is.EqualTo(System.Net.HttpStatusCode.Accepted));
            await WaitAsync(async () => (await GetFailoverAsync(r, id)).GetProperty("currentStep").GetString()
                == "revert volumes to their snapshots", TimeSpan.FromSeconds(30), "the cleanup reached its revert step");
            firstStopped = true;
            await r.Env.Host.DisposeAsync();
            var statusWhileDown = await QueryAsync<string>("SELECT status FROM failover_jobs WHERE id = @id", new { id });

            second = await RestartOmaAsync(r);
            using var admin = await second.CreateAdminClientAsync("after-restart");
            var cleaned = await WaitFailoverAsync(admin, id, "cleaned_up", "cleanup_failed");
            var runs = await QueryAsync<long>("SELECT COUNT(*) FROM jobs WHERE job_type = 'failover.cleanup' AND entity_id = @id", new { id = id.ToString() });
            Assert.Multiple(() =>
            {
                Assert.That(statusWhileDown, Is.EqualTo("cleaning_up"));
                Assert.That(cleaned.GetProperty("status").GetString(), Is.EqualTo("cleaned_up"), cleaned.ToString());
                Assert.That(runs, Is.EqualTo(2), "the cut-off cleanup, then the one the new OMA ran");
                Assert.That(cleaned.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
            });
            await AssertNoVmAsync(r, cleaned, "after the restart", second);
            await AssertBackOnOmaAsync(r, "after the restart", second);
            var rows = await VolumeRowsAsync(r.Id);
            foreach (var (key, image) in r.Disks)
            {
                // Reverted, not merely re-attached: the data equals the source image again.
                var volume = await SendAsync(r, new GetVolumeByRowIdQuery(rows[key]), second);
                await AssertSameAsync(image, volume!.Mapping!.DevicePath!, ImageSize);
            }
        }
        finally
        {
            await TearDownAsync(r, firstStopped, second);
        }
    }
}
