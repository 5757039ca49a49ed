using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Replication.Vma;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>
/// Replication when things break mid-copy: the OMA process stops and a new one starts on the same
/// database, the agent disappears, an operator cancels. Same real peers as the end-to-end tests.
/// </summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationFaultTests : SimulatedVmTest
{
    private const long ImageSize = 32 * MiB;

    /// <summary>Small, frequent checkpoints so a stop a few seconds in leaves one behind.</summary>
    private static readonly Dictionary<string, string?> FrequentCheckpoints = new()
    {
        ["Vma:Streaming:CheckpointInterval"] = "00:00:00.300",
        ["Vma:Streaming:CheckpointBytes"] = (1 * MiB).ToString(CultureInfo.InvariantCulture),
    };

    private (int Key, string Image)[] CreateImages()
    {
        var dir = TestDirectories.Create("repl-images");
        (long, long)[][] data = [[(0, 12 * MiB)], [(0, MiB)], [(0, MiB)]];
        var disks = Vm.Disks.Select((d, i) => (d.DeviceKey, TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select((d, i) => (Vm.Ref.Value, d.DeviceKey, "*", data[i])).ToArray());
        return disks;
    }

    private async Task<Guid> StartReplicationAsync(HttpClient admin, int configId, string agent, long bandwidth)
    {
        using var response = await admin.PostAsJsonAsync("/api/v1/replications",
            new { vmMoref = Vm.Ref.Value, agent, osseaConfigId = configId, bandwidthLimitBps = bandwidth });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToString());
        return body.GetProperty("id").GetGuid();
    }

    private static Task AssertSameAsync(string image, string device) => ReplicationTestKit.AssertSameAsync(image, device, ImageSize);

    private static List<JsonElement> ReplicationSyncs(JsonElement all) => all.EnumerateArray()
        .Where(s => s.GetProperty("jobId").GetString()!.StartsWith("repl-", StringComparison.Ordinal))
        .OrderBy(s => s.GetProperty("startedAt").GetDateTime()).ToList();

    private static JsonElement DiskOf(JsonElement sync, int key) =>
        sync.GetProperty("disks").EnumerateArray().Single(d => d.GetProperty("deviceKey").GetInt32() == key);

    private static Task WaitForCheckpointAsync(Guid id, int key, long atLeast) => WaitAsync(async () => await QueryAsync<long>(
            "SELECT COALESCE(MAX(sync_checkpoint), 0) FROM vm_disks WHERE job_id = @id AND disk_id = @key",
            new { id, key = key.ToString(CultureInfo.InvariantCulture) }) >= atLeast,
        TimeSpan.FromSeconds(30), $"a checkpoint of disk {key} at {atLeast} persisted");

    private static async Task<IReadOnlyList<string>> RunLogAsync(Guid id)
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<string>("""
            SELECT l.message FROM job_log l JOIN jobs j ON j.id = l.job_id
            WHERE j.job_type = 'replication.sync' AND j.entity_id = @id ORDER BY l.id
            """, new { id = id.ToString() })).AsList();
    }

    private async Task AssertTargetsAsync(IServiceProvider oma, Guid id, (int Key, string Image)[] disks)
    {
        foreach (var (key, image) in disks)
        {
            var rowId = await QueryAsync<long>("SELECT ossea_volume_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
                new { id, key = key.ToString(CultureInfo.InvariantCulture) });
            await using var scope = oma.CreateAsyncScope();
            var volume = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new GetVolumeByRowIdQuery(rowId));
            await AssertSameAsync(image, volume!.Mapping!.DevicePath!);
        }
    }

    private static async Task WaitForStatusAsync(Guid id, params string[] statuses) =>
        await WaitAsync(async () => Array.IndexOf(statuses, await StatusAsync(id)) >= 0, TimeSpan.FromSeconds(60), $"job status one of {string.Join(", ", statuses)}");

    [Test]
    public async Task An_oma_restart_mid_copy_follows_the_running_agent_sync_instead_of_starting_over()
    {
        var disks = CreateImages();
        // The restarted OMA must be the same service to the agent: same tunnel port and PKI.
        var settings = FastWorker(("Tunnel:Listen", $"127.0.0.1:{FreePort.Get()}"), ("Tunnel:PkiDirectory", TestDirectories.Create("pki")));
        var env = await OmaWithOssea.StartAsync(ConnectionString, settings);
        OmaTestHost? second = null;
        try
        {
            await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-restart",
                disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)), FrequentCheckpoints);
            Guid id;
            using (var admin = await env.Host.CreateAdminClientAsync())
            {
                id = await StartReplicationAsync(admin, env.ConfigId, agent.Name, 2 * MiB); // 14 MiB at 2 MiB/s: about 7 s
            }
            await WaitForCheckpointAsync(id, disks[0].Key, 2 * MiB);

            await env.Host.DisposeAsync(); // the OMA stops mid-copy; its job stays 'replicating'
            Assert.That(await StatusAsync(id), Is.EqualTo("replicating"));
            second = await OmaTestHost.StartAsync(ConnectionString, new Dictionary<string, string?>(settings)
            {
                ["Volume:DeviceByIdDirectory"] = env.Emulator.ByIdDirectory,
                ["Volume:DeviceTimeout"] = "00:00:05",
                ["Volume:DevicePollInterval"] = "00:00:00.050",
                ["Volume:Reconciler"] = "false",
                ["Nbd:Listen"] = "127.0.0.1:0",
            });
            await WaitForStatusAsync(id, "idle", "failed");
            Assert.That(await StatusAsync(id), Is.EqualTo("idle"),
                await QueryAsync<string?>("SELECT error_message FROM replication_jobs WHERE id = @id", new { id }));

            var syncs = ReplicationSyncs(await agent.Local.GetFromJsonAsync<JsonElement>("api/v1/syncs"));
            var log = await RunLogAsync(id);
            Assert.Multiple(async () =>
            {
                Assert.That(syncs, Has.Count.EqualTo(1), "the new OMA followed the sync the agent was still running");
                Assert.That(DiskOf(syncs[0], disks[0].Key).GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(12 * MiB), "nothing was sent twice");
                Assert.That(syncs[0].GetProperty("state").GetString(), Is.EqualTo("completed"));
                Assert.That(log, Has.Some.StartsWith("resuming with snapshot").And.Some.StartsWith("following VMA sync"));
                Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id", new { id }), Is.EqualTo(3), "one full copy per disk");
                Assert.That(await QueryAsync<string>(
                    "SELECT GROUP_CONCAT(status ORDER BY created_at) FROM jobs WHERE job_type = 'replication.sync' AND entity_id = @id", new { id = id.ToString() }),
                    Is.EqualTo("cancelled,completed"), "the stopped OMA's run, then the resumed one");
            });
            await AssertTargetsAsync(second.Services, id, disks);
        }
        finally
        {
            if (second is not null)
            {
                await second.DisposeAsync();
            }
            await env.Emulator.DisposeAsync();
        }
    }

    [Test]
    public async Task An_interrupted_agent_sync_is_restarted_from_the_saved_checkpoints()
    {
        var disks = CreateImages();
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker());
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-interrupt",
            disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)), FrequentCheckpoints);
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = await StartReplicationAsync(admin, env.ConfigId, agent.Name, 2 * MiB);
        await WaitForCheckpointAsync(id, disks[0].Key, 2 * MiB);
        // Someone on the VMA stops the sync (as a VMA restart or a broken target connection would).
        var first = await QueryAsync<string>("SELECT current_sync_id FROM replication_jobs WHERE id = @id", new { id });
        using (var cancelled = await agent.Local.PostAsync($"api/v1/syncs/{first}/cancel", null))
        {
            Assert.That(cancelled.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }
        await WaitForStatusAsync(id, "idle", "failed");
        Assert.That(await StatusAsync(id), Is.EqualTo("idle"),
            await QueryAsync<string?>("SELECT error_message FROM replication_jobs WHERE id = @id", new { id }));

        var syncs = ReplicationSyncs(await agent.Local.GetFromJsonAsync<JsonElement>("api/v1/syncs"));
        var resumed = DiskOf(syncs[^1], disks[0].Key);
        var start = resumed.GetProperty("startOffset").GetInt64();
        Assert.Multiple(async () =>
        {
            Assert.That(syncs, Has.Count.EqualTo(2));
            Assert.That(syncs[0].GetProperty("jobId").GetString(), Is.EqualTo(first));
            Assert.That(syncs[0].GetProperty("state").GetString(), Is.EqualTo("cancelled"));
            Assert.That(start, Is.GreaterThanOrEqualTo(2 * MiB), "resumed from the persisted checkpoint");
            Assert.That(resumed.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(12 * MiB - start), "only what lay past the checkpoint");
            Assert.That(await RunLogAsync(id), Has.Some.Contains("restarting unfinished disks from their checkpoints"));
        });
        await AssertTargetsAsync(env.Host.Services, id, disks);
    }

    [Test]
    public async Task An_operator_cancel_cancels_the_agent_sync_and_removes_the_snapshot()
    {
        var disks = CreateImages();
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker());
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-cancel",
            disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)), FrequentCheckpoints);
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = await StartReplicationAsync(admin, env.ConfigId, agent.Name, MiB);
        await WaitForCheckpointAsync(id, disks[0].Key, MiB);
        var snapshot = await QueryAsync<string>("SELECT snapshot_id FROM replication_jobs WHERE id = @id", new { id });
        var sync = await QueryAsync<string>("SELECT current_sync_id FROM replication_jobs WHERE id = @id", new { id });
        using (var response = await admin.PostAsync($"/api/v1/replications/{id}/cancel", null))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
        await WaitAsync(async () => (await agent.Local.GetFromJsonAsync<JsonElement>($"api/v1/progress/{sync}")).GetProperty("state").GetString() == "cancelled",
            TimeSpan.FromSeconds(10), "the agent's sync cancelled");
        await WaitAsync(async () => await QueryAsync<long>(
                "SELECT COUNT(*) FROM jobs WHERE job_type = 'replication.sync' AND entity_id = @id AND status = 'cancelled'", new { id = id.ToString() }) == 1,
            TimeSpan.FromSeconds(10), "the run's job ended cancelled");
        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(await StatusAsync(id), Is.EqualTo("cancelled"));
            Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).Snapshots, Does.Not.Contain(snapshot));
            Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM vm_disks WHERE job_id = @id AND ossea_volume_id IS NOT NULL", new { id }), Is.EqualTo(3),
                "volumes stay until the job is deleted");
        });
    }

    [Test]
    public async Task An_agent_that_never_returns_fails_the_job_after_the_agent_timeout_and_the_volumes_stay()
    {
        var disks = CreateImages();
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(("Replication:AgentTimeout", "00:00:03")));
        var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-gone", disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)), FrequentCheckpoints);
        Guid id;
        try
        {
            using var admin = await env.Host.CreateAdminClientAsync();
            id = await StartReplicationAsync(admin, env.ConfigId, agent.Name, MiB);
            await WaitForCheckpointAsync(id, disks[0].Key, MiB);
        }
        finally
        {
            await agent.DisposeAsync();
        }
        var clock = Stopwatch.StartNew();
        await WaitForStatusAsync(id, "failed", "idle");
        var error = await QueryAsync<string?>("SELECT error_message FROM replication_jobs WHERE id = @id", new { id });
        Assert.Multiple(async () =>
        {
            Assert.That(await StatusAsync(id), Is.EqualTo("failed"));
            Assert.That(error, Does.Contain("vma-gone").And.Contain("unreachable"));
            Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(2)), "it kept trying for the agent timeout");
            Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM vm_disks WHERE job_id = @id AND ossea_volume_id IS NOT NULL", new { id }), Is.EqualTo(3));
            Assert.That(await QueryAsync<long>("SELECT MAX(sync_checkpoint) FROM vm_disks WHERE job_id = @id", new { id }), Is.GreaterThanOrEqualTo(MiB),
                "checkpoints stay for the next attempt");
            Assert.That(await QueryAsync<string?>("SELECT snapshot_id FROM replication_jobs WHERE id = @id", new { id }), Is.Not.Null);
        });
        foreach (var (key, _) in disks)
        {
            var rowId = await QueryAsync<long>("SELECT ossea_volume_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
                new { id, key = key.ToString(CultureInfo.InvariantCulture) });
            Assert.That(await env.SendAsync(new GetVolumeByRowIdQuery(rowId)), Is.Not.Null);
        }
    }

    [Test]
    public async Task The_vma_client_tells_an_unreachable_agent_from_an_http_error_from_a_refused_request()
    {
        var disks = CreateImages();
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(("Replication:Worker", "false")));
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-client", disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)));
        var channel = env.Host.Services.GetRequiredService<IAgentChannel>();
        using var absent = new VmaApiClient(channel, "nobody", TimeSpan.FromSeconds(10));
        using var vma = new VmaApiClient(channel, agent.Name, TimeSpan.FromSeconds(30));

        var unreachable = Assert.ThrowsAsync<VmaUnavailableException>(() => absent.GetProgressAsync("x", CancellationToken.None));
        var refused = Assert.ThrowsAsync<VmaValidationException>(() =>
            vma.StartSyncAsync(new VmaSyncRequest("bad id", "", "", [], null), CancellationToken.None));
        var noCbt = Assert.ThrowsAsync<VmaApiException>(() => vma.EnableCbtAsync("/DC0/vm/mk-legacy-hw4", CancellationToken.None));
        var spec = await vma.GetVmAsync(Vm.InventoryPath, CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(unreachable!.Message, Does.Contain("nobody"));
            Assert.That(refused!.Errors.Keys, Is.SupersetOf(new[] { "jobId", "vm", "snapshotId", "disks" }));
            Assert.That(noCbt!.Status, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(noCbt.Message, Does.Contain("409"));
            Assert.That(spec!.Moref, Is.EqualTo(Vm.Ref.Value));
            Assert.That(spec.Disks.Select(d => d.DeviceKey), Is.EqualTo(Vm.Disks.Select(d => d.DeviceKey)));
            Assert.That(await vma.GetVmAsync("/DC0/vm/nope", CancellationToken.None), Is.Null);
            Assert.That(await vma.GetProgressAsync("nope", CancellationToken.None), Is.Null);
            Assert.That(await vma.CancelSyncAsync("nope", CancellationToken.None), Is.False);
            Assert.That(await vma.DeleteSnapshotAsync(Vm.Ref.Value, "snapshot-nope", CancellationToken.None), Is.False);
        });
    }
}
