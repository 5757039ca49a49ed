using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Failover.Run;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MySqlConnector;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

public sealed partial class FailoverTests
{
    private const string StepKeysScript = "V0026__failover_step_keys.sql";

    /// <summary>
    /// An OMA that stored step labels in failover_jobs.current_step stopped in the middle of a test
    /// failover; the new OMA's migration rewrites the labels to keys, and the failover is recovered
    /// from the step it reached through the normal resume path (the worker's recovery).
    /// </summary>
    [Test]
    public async Task A_failover_stopped_mid_way_under_the_old_step_labels_is_recovered_after_the_upgrade()
    {
        var database = $"migratekit_upgrade_{Environment.ProcessId}";
        await TestDatabase.RecreateAsync(database);
        var connectionString = TestDatabase.ForDatabase(database);
        var runner = new MigrationRunner(NullLogger<MigrationRunner>.Instance);
        var before = runner.Migrate(connectionString, VersionBefore(StepKeysScript));
        Assert.That(before.Scripts, Does.Not.Contain(StepKeysScript).And.Contains(PreviousScript(StepKeysScript)), "the schema before the step keys");

        var r = await ReplicateOnAsync(connectionString, "vma-fo-upgrade");
        OmaTestHost? second = null;
        var firstStopped = false;
        try
        {
            // The OMA stops while the failover waits for its start job (as in the restart test).
            r.Env.Emulator.Faults.DelayJobs("startVirtualMachine", TimeSpan.FromSeconds(2));
            var id = await StartFailoverAsync(r);
            await WaitAsync(async () => (await GetFailoverAsync(r, id)).GetProperty("currentStep").GetString() == "start VM",
                TimeSpan.FromSeconds(30), "the failover reached its start step");
            firstStopped = true;
            await r.Env.Host.DisposeAsync();
            var vmId = await QueryOnAsync<string>(r, "SELECT destination_vm_id FROM failover_jobs WHERE id = @id", new { id });
            await WaitAsync(() => Task.FromResult(r.Env.Emulator.VirtualMachineState(vmId) == "Running"), TimeSpan.FromSeconds(30), "the VM started");

            // What the older OMA wrote: the label of the step, and finished failovers of the same
            // replication, one per label that binary could leave in the column, plus text it never wrote.
            await using (var conn = new MySqlConnection(connectionString))
            {
                await conn.ExecuteAsync("UPDATE failover_jobs SET current_step = 'start VM' WHERE id = @id", new { id });
                foreach (var label in FailoverSteps.All.Select(s => s.Label).Append("something an operator typed"))
                {
                    await conn.ExecuteAsync("""
                        INSERT INTO failover_jobs (id, replication_job_id, vm_id, job_type, status, current_step, created_at, updated_at)
                        VALUES (@Id, @Replication, 'vm-old', 'test', 'failed', @Label, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
                        """, new { Id = Guid.NewGuid(), Replication = r.Id, Label = label });
                }
            }

            var upgrade = runner.Migrate(connectionString);
            var stored = await QueryOnAsync<string?>(r, "SELECT current_step FROM failover_jobs WHERE id = @id", new { id });
            var history = (await QueryAllOnAsync<string?>(r,
                "SELECT current_step FROM failover_jobs WHERE vm_id = 'vm-old'", new { })).ToList();
            Assert.Multiple(() =>
            {
                Assert.That(upgrade.Scripts, Does.Contain(StepKeysScript));
                Assert.That(stored, Is.EqualTo(FailoverSteps.StartVm.Key), "the mid-way failover's label became its key");
                Assert.That(history, Is.EquivalentTo(FailoverSteps.All.Select(s => (string?)s.Key).Append(null)), "every old label became its key; other text is dropped");
            });
            Assert.ThrowsAsync<MySqlException>(async () =>
            {
                await using var conn = new MySqlConnection(connectionString);
                await conn.ExecuteAsync("UPDATE failover_jobs SET current_step = 'start VM' WHERE id = @id", new { id });
            }, "the column takes keys only now");

            second = await RestartOmaAsync(r);
            using var admin = await second.CreateAdminClientAsync("after-upgrade");
            var recovered = await WaitFailoverAsync(admin, id, "failed", "rollback_failed");
            var old = await admin.GetFromJsonAsync<JsonElement>("/api/v1/failovers?status=failed");
            Assert.Multiple(async () =>
            {
                Assert.That(recovered.GetProperty("status").GetString(), Is.EqualTo("failed"), recovered.ToString());
                // The recovery knew the VM had been started (it stopped it and reverted the volumes): it read the key.
                Assert.That(recovered.GetProperty("errorMessage").GetString(),
                    Does.StartWith("interrupted: the OMA stopped while this failover ran at step 'start VM'")
                        .And.Contain($"VM {vmId} stopped").And.Contain("reverted").And.Contain("replication released"));
                Assert.That(recovered.GetProperty("snapshots").EnumerateArray().Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("deleted"));
                Assert.That(r.Env.Emulator.VirtualMachineState(vmId), Is.EqualTo("Expunged"));
                Assert.That((await admin.GetFromJsonAsync<JsonElement>($"/api/v1/replications/{r.Id}")).GetProperty("holdReason").GetString(), Is.Null);
                Assert.That(old.EnumerateArray().Select(f => f.GetProperty("currentStep").GetString()), Has.Member("attach root volume"),
                    "the API shows the label of a stored key");
            });
            await AssertNoVmAsync(r, recovered, "after the upgrade", second);
            await AssertBackOnOmaAsync(r, "after the upgrade", second);
            var replication = (await SendAsync(r, new MigrateKit.Modules.Replication.Contracts.GetReplicationQuery(r.Id), second))!;
            foreach (var (key, image) in r.Disks)
            {
                // Reverted: what the test VM may have written is gone.
                var disk = replication.Disks.Single(d => d.DiskId == Key(key));
                var volume = await SendAsync(r, new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), second);
                await AssertSameAsync(image, volume!.Mapping!.DevicePath!, ImageSize);
            }
        }
        finally
        {
            await TearDownAsync(r, firstStopped, second);
            TestDatabase.Drop(database);
        }
    }

    /// <summary>The embedded script applied just before <paramref name="script"/>.</summary>
    private static string PreviousScript(string script)
    {
        var scripts = MigrationRunner.EmbeddedScripts().ToList();
        var at = scripts.IndexOf(script);
        Assert.That(at, Is.GreaterThan(0), $"{script} is embedded and not the first");
        return scripts[at - 1];
    }

    /// <summary>The version (Evolve's "V0025" → "0025") of the script just before <paramref name="script"/>.</summary>
    private static string VersionBefore(string script)
    {
        var previous = PreviousScript(script);
        return previous[1..previous.IndexOf("__", StringComparison.Ordinal)];
    }

    private static async Task<T> QueryOnAsync<T>(Replicated r, string sql, object args)
    {
        await using var conn = new MySqlConnection(r.ConnectionString);
        return await conn.QuerySingleAsync<T>(sql, args);
    }

    private static async Task<IEnumerable<T>> QueryAllOnAsync<T>(Replicated r, string sql, object args)
    {
        await using var conn = new MySqlConnection(r.ConnectionString);
        return (await conn.QueryAsync<T>(sql, args)).AsList();
    }
}
