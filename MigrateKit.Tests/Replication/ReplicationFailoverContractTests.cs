using System.Net;
using System.Net.Http.Json;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.Ossea;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>
/// What a failover needs from the Replication module (contracts.md), with the real peers: the
/// vCenter simulator, the VMA agent over the tunnel, the OSSEA emulator's loop devices, MariaDB.
/// </summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationFailoverContractTests : SimulatedVmTest
{
    private const long ImageSize = 16 * MiB;

    private (int Key, string Image)[] CreateImages()
    {
        var dir = TestDirectories.Create("repl-failover");
        (long, long)[][] data = [[(0, 4 * MiB)], [(MiB, MiB)], [(0, MiB)]];
        var disks = Vm.Disks.Select((d, i) => (d.DeviceKey, TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select((d, i) => (Vm.Ref.Value, d.DeviceKey, "*", data[i])).ToArray());
        return disks;
    }

    private async Task<(OmaWithOssea Env, VmaTestAgent Agent, HttpClient Admin)> StartAsync((int Key, string Image)[] disks, string agentName,
        params (string Key, string Value)[] settings)
    {
        var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(settings));
        var agent = await VmaTestAgent.StartAsync(env, Sim, agentName, disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)));
        return (env, agent, await env.Host.CreateAdminClientAsync());
    }

    [Test]
    public async Task Every_sync_persists_the_source_vm_spec_with_resolved_network_names()
    {
        var disks = CreateImages();
        var (env, agent, admin) = await StartAsync(disks, "vma-spec");
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
        Assert.That(await env.SendAsync(new GetSourceVmSpecQuery(id)), Is.Null, "nothing before the first sync");
        var job = await WaitIdleAsync(admin, id, null);
        var spec = await env.SendAsync(new GetSourceVmSpecQuery(id));

        Assert.That(spec, Is.Not.Null);
        Assert.Multiple(() =>
        {
            Assert.That(spec!.Nics, Has.Count.EqualTo(2), "mk-multi-disk has two NICs");
            Assert.That(spec.Nics.Select(n => n.NetworkName), Has.None.EqualTo("unknown").And.None.Empty);
            Assert.That(spec.Nics.Select(n => n.NetworkName), Has.Some.EqualTo("DC0_DVPG0"));
            Assert.That(spec.Nics.Single(n => n.NetworkName == "DC0_DVPG0").NetworkKind, Is.EqualTo("distributed-portgroup"));
            Assert.That(spec.Nics.Select(n => n.MacAddress), Has.All.Not.Null);
            Assert.That(spec.NumCpu, Is.GreaterThan(0));
            Assert.That(spec.MemoryMb, Is.GreaterThan(0));
            Assert.That(spec.Firmware, Is.Not.Null.And.Not.Empty);
            Assert.That(spec.GuestId, Is.Not.Null.And.Not.Empty);
            Assert.That(spec.CapturedAt, Is.LessThanOrEqualTo(LastSync(job)!.Value));
            Assert.That(job.GetProperty("holdReason").ValueKind, Is.EqualTo(System.Text.Json.JsonValueKind.Null));
        });
    }

    [Test]
    public async Task A_hold_stops_scheduled_and_requested_syncs_until_released_and_is_refused_while_a_sync_runs()
    {
        var disks = CreateImages();
        var (env, agent, admin) = await StartAsync(disks, "vma-hold");
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name, bandwidth: MiB); // 6 MiB at 1 MiB/s
        await WaitAsync(async () => await StatusAsync(id) == "replicating", TimeSpan.FromSeconds(30), "the first sync started");
        var whileSyncing = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new HoldReplicationCommand(id, "failover-a")));
        Assert.That(whileSyncing!.Message, Does.Contain("syncing"));
        var first = await WaitIdleAsync(admin, id, null);

        var held = await env.SendAsync(new HoldReplicationCommand(id, "failover-a"));
        var again = await env.SendAsync(new HoldReplicationCommand(id, "failover-a"));
        var other = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new HoldReplicationCommand(id, "failover-b")));
        using (var request = await admin.PostAsync($"/api/v1/replications/{id}/sync", null))
        {
            Assert.That(request.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), "a requested sync is refused while held");
        }
        // A request stored before the hold and a schedule that falls due: neither may start a sync.
        await ExecuteAsync("""
            UPDATE replication_jobs SET sync_requested_at = UTC_TIMESTAMP(6), schedule_interval_seconds = 3600,
                   next_sync_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = @id
            """, new { id });
        var runs = await SyncRunsAsync(id);
        await Task.Delay(TimeSpan.FromSeconds(2)); // ten scans of the worker
        Assert.Multiple(async () =>
        {
            Assert.That(held.HoldReason, Is.EqualTo("failover-a"));
            Assert.That(again.HoldReason, Is.EqualTo("failover-a"), "holding again with the same reason is success");
            Assert.That(other!.Message, Does.Contain("failover-a"));
            Assert.That(await SyncRunsAsync(id), Is.EqualTo(runs), "no sync started while held");
            Assert.That(await StatusAsync(id), Is.EqualTo("idle"));
            Assert.That((await GetReplicationAsync(admin, id)).GetProperty("holdReason").GetString(), Is.EqualTo("failover-a"));
        });

        var wrongRelease = await env.SendAsync(new ReleaseReplicationCommand(id, "failover-b"));
        Assert.That(wrongRelease.HoldReason, Is.EqualTo("failover-a"), "someone else's release leaves the hold");
        var released = await env.SendAsync(new ReleaseReplicationCommand(id, "failover-a"));
        Assert.That(released.HoldReason, Is.Null);
        await WaitIdleAsync(admin, id, LastSync(first));
        Assert.That(await SyncRunsAsync(id), Is.EqualTo(runs + 1), "the waiting request ran once the hold was lifted");
    }

    [Test]
    public async Task A_final_sync_under_hold_shuts_the_source_down_through_the_vma_and_waits_for_the_copy()
    {
        var disks = CreateImages();
        var (env, agent, admin) = await StartAsync(disks, "vma-final", ("Replication:ShutdownGrace", "00:00:05"));
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
        var full = await WaitIdleAsync(admin, id, null);
        var changeIds = await QueryAsync<string>("SELECT GROUP_CONCAT(disk_change_id ORDER BY disk_id SEPARATOR '|') FROM vm_disks WHERE job_id = @id", new { id });
        Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new RunFinalSyncCommand(id, "failover-live", false)), "not held");

        await env.SendAsync(new HoldReplicationCommand(id, "failover-live"));
        // The source changes after the last sync: the final sync must carry it over.
        TestImages.Fill(disks[0].Image, [(8 * MiB, 512 * 1024)]);
        var disk0Change = await QueryAsync<string>("SELECT disk_change_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
            new { id, key = disks[0].Key.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, disks[0].Key, disk0Change, [(8 * MiB, 512 * 1024)]));
        var runs = await SyncRunsAsync(id);

        var after = await env.SendAsync(new RunFinalSyncCommand(id, "failover-live", ShutdownSource: true));

        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).PowerState, Is.EqualTo("poweredOff"), "shut down through the VMA");
            Assert.That(after.Status, Is.EqualTo("idle"), "the command returned after the sync ended");
            Assert.That(after.LastSyncCompletedAt, Is.GreaterThan(LastSync(full)!.Value));
            Assert.That(after.HoldReason, Is.EqualTo("failover-live"), "still held");
            Assert.That(await SyncRunsAsync(id), Is.EqualTo(runs + 1));
            Assert.That(await QueryAsync<string>("SELECT GROUP_CONCAT(disk_change_id ORDER BY disk_id SEPARATOR '|') FROM vm_disks WHERE job_id = @id", new { id }),
                Is.Not.EqualTo(changeIds));
        });
        await AssertTargetsAsync(env, id, disks, ImageSize);

        var failedOver = await env.SendAsync(new MarkFailedOverCommand(id, "failover-live"));
        var twice = await env.SendAsync(new MarkFailedOverCommand(id, "failover-live"));
        using var request = await admin.PostAsync($"/api/v1/replications/{id}/sync", null);
        Assert.Multiple(() =>
        {
            Assert.That(failedOver.Status, Is.EqualTo(ReplicationStatuses.FailedOver));
            Assert.That(twice.Status, Is.EqualTo(ReplicationStatuses.FailedOver));
            Assert.That(request.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
        });
    }

    [Test]
    public async Task A_final_sync_that_fails_fails_the_command_with_the_reason_and_keeps_the_hold()
    {
        var disks = CreateImages();
        var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(("Replication:AgentTimeout", "00:00:02")));
        await using var _env = env;
        using var admin = await env.Host.CreateAdminClientAsync();
        Guid id;
        await using (var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-final-fail", disks.Select(d => (Vm.Ref.Value, d.Key, d.Image))))
        {
            id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
            await WaitIdleAsync(admin, id, null);
            await env.SendAsync(new HoldReplicationCommand(id, "failover-x"));
        }
        // The agent is gone: the final sync cannot reach it and gives up after the agent timeout.
        var failed = Assert.ThrowsAsync<InvalidOperationException>(() => env.SendAsync(new RunFinalSyncCommand(id, "failover-x", false)));
        var job = await GetReplicationAsync(admin, id);
        Assert.Multiple(() =>
        {
            Assert.That(failed!.Message, Does.Contain("final sync failed").And.Contain("unreachable"));
            Assert.That(job.GetProperty("status").GetString(), Is.EqualTo("failed"));
            Assert.That(job.GetProperty("holdReason").GetString(), Is.EqualTo("failover-x"), "the failover still holds the job");
        });
    }

    [Test]
    public async Task Restoring_targets_attaches_detached_volumes_to_the_oma_and_exports_them_again()
    {
        var disks = CreateImages();
        var (env, agent, admin) = await StartAsync(disks, "vma-restore");
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
        var full = await WaitIdleAsync(admin, id, null);
        var rows = await VolumeRowsAsync(id);
        var exports = new Dictionary<long, string>();
        foreach (var row in rows.Values)
        {
            var volume = (await env.SendAsync(new GetVolumeByRowIdQuery(row)))!;
            exports[row] = volume.Export!.ExportName;
            await env.SendAsync(new DetachVolumeCommand(volume.VolumeId)); // as a failover does before attaching them to its VM
        }
        foreach (var row in rows.Values)
        {
            Assert.That((await env.SendAsync(new GetVolumeByRowIdQuery(row)))!.Mapping, Is.Null, "detached");
        }

        await env.SendAsync(new RestoreReplicationTargetsCommand(id));
        await env.SendAsync(new RestoreReplicationTargetsCommand(id)); // idempotent

        foreach (var row in rows.Values)
        {
            var volume = (await env.SendAsync(new GetVolumeByRowIdQuery(row)))!;
            Assert.Multiple(() =>
            {
                Assert.That(volume.Mapping?.OperationMode, Is.EqualTo("oma"));
                Assert.That(volume.Export?.ExportName, Is.EqualTo(exports[row]), "exported under its export name again");
            });
        }
        await AssertTargetsAsync(env, id, disks, ImageSize);
        // The next sync writes through the restored exports.
        TestImages.Fill(disks[1].Image, [(4 * MiB, 64 * 1024)]);
        var change = await QueryAsync<string>("SELECT disk_change_id FROM vm_disks WHERE job_id = @id AND disk_id = @key",
            new { id, key = disks[1].Key.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, disks[1].Key, change, [(4 * MiB, 64 * 1024)]));
        using (var request = await admin.PostAsync($"/api/v1/replications/{id}/sync", null))
        {
            Assert.That(request.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }
        await WaitIdleAsync(admin, id, LastSync(full));
        await AssertTargetsAsync(env, id, disks, ImageSize);
    }

    /// <summary>Stands in for the Failover module: refuses while <see cref="Refuse"/> is set.</summary>
    private sealed class RefusingHandler : INotificationHandler<ReplicationDeletingNotification>
    {
        public static volatile bool Refuse = true;
        public static int Calls;

        public Task Handle(ReplicationDeletingNotification notification, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref Calls);
            return Refuse ? throw new ConflictException($"replication {notification.Id} is used by a test failover") : Task.CompletedTask;
        }
    }

    [Test]
    public async Task A_deleting_notification_handler_that_throws_refuses_the_delete()
    {
        await using var emulator = await OsseaEmulator.StartAsync();
        await using var host = await OmaTestHost.StartAsync(ConnectionString, new Dictionary<string, string?>
        {
            ["Replication:Worker"] = "false",
            ["Volume:DeviceByIdDirectory"] = emulator.ByIdDirectory,
            ["Volume:Reconciler"] = "false",
        }, services => services.AddTransient<INotificationHandler<ReplicationDeletingNotification>, RefusingHandler>());
        OsseaConfigView config;
        await using (var scope = host.Services.CreateAsyncScope())
        {
            config = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new CreateOsseaConfigCommand
            {
                Name = "emulated", ApiUrl = emulator.ApiUrl.ToString(), ApiKey = emulator.ApiKey, SecretKey = emulator.SecretKey,
                Zone = emulator.ZoneId, DiskOfferingId = emulator.CustomDiskOfferingId, OmaVmId = emulator.OmaVmId,
            });
        }
        var id = Guid.NewGuid();
        await ExecuteAsync("""
            INSERT INTO replication_jobs (id, source_vm_id, source_vm_name, replication_type, status, ossea_config_id, created_at, updated_at)
            VALUES (@id, 'vm-delete', 'delete-me', 'incremental', 'idle', @config, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))
            """, new { id, config = config.Id });
        using var admin = await host.CreateAdminClientAsync();
        RefusingHandler.Refuse = true;
        var calls = RefusingHandler.Calls;

        using (var refused = await admin.DeleteAsync($"/api/v1/replications/{id}"))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict), await refused.Content.ReadAsStringAsync());
            Assert.That(await refused.Content.ReadAsStringAsync(), Does.Contain("test failover"));
        }
        Assert.Multiple(async () =>
        {
            Assert.That(RefusingHandler.Calls, Is.EqualTo(calls + 1));
            Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM replication_jobs WHERE id = @id", new { id }), Is.EqualTo(1), "nothing deleted");
        });

        RefusingHandler.Refuse = false;
        using (var deleted = await admin.DeleteAsync($"/api/v1/replications/{id}"))
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await deleted.Content.ReadAsStringAsync());
        }
        Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM replication_jobs WHERE id = @id", new { id }), Is.Zero);
    }
}
