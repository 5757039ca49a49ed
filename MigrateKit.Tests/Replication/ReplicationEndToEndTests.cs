using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>
/// Replication driven through the OMA's REST API with every real peer: the vCenter simulator
/// (CBT answers from its file), the real VMA agent reading local images, the tunnel, the OSSEA
/// emulator's loop devices behind the OMA's NBD exports, MariaDB, and qemu-img to compare.
/// </summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationEndToEndTests : SimulatedVmTest
{
    private const long ImageSize = 32 * MiB;

    /// <summary>Three source images (the VM's three disks), each with data where given and holes elsewhere.</summary>
    private (int Key, string Image)[] CreateImages(params (long, long)[][] data)
    {
        var dir = TestDirectories.Create("repl-images");
        return Vm.Disks.Select((d, i) => (d.DeviceKey, TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
    }

    private async Task<(OmaWithOssea Env, VmaTestAgent Agent, HttpClient Admin)> StartAsync((int Key, string Image)[] disks, string agentName)
    {
        var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker());
        var agent = await VmaTestAgent.StartAsync(env, Sim, agentName, disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)));
        return (env, agent, await env.Host.CreateAdminClientAsync());
    }

    private static Task AssertSameAsync(string image, string device, long size = ImageSize) => ReplicationTestKit.AssertSameAsync(image, device, size);

    private sealed record DiskRow(long Id, string DiskId, long? OsseaVolumeId, string? DiskChangeId, string SyncStatus, long CapacityBytes);

    private sealed record HistoryRow(string DiskId, string SyncType, string? PreviousChangeId, string ChangeId, long BytesTransferred,
        long ExtentsCopied, string? Reason, Guid? SyncJobId);

    private static async Task<Dictionary<int, DiskRow>> DisksAsync(Guid id)
    {
        await using var conn = await OpenAsync();
        var rows = await conn.QueryAsync<DiskRow>("""
            SELECT id AS Id, disk_id AS DiskId, ossea_volume_id AS OsseaVolumeId, disk_change_id AS DiskChangeId, sync_status AS SyncStatus,
                   capacity_bytes AS CapacityBytes
            FROM vm_disks WHERE job_id = @id
            """, new { id });
        return rows.ToDictionary(r => int.Parse(r.DiskId, CultureInfo.InvariantCulture));
    }

    private static async Task<List<HistoryRow>> HistoryAsync(Guid id)
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<HistoryRow>("""
            SELECT disk_id AS DiskId, sync_type AS SyncType, previous_change_id AS PreviousChangeId, change_id AS ChangeId,
                   bytes_transferred AS BytesTransferred, extents_copied AS ExtentsCopied, reason AS Reason, sync_job_id AS SyncJobId
            FROM cbt_history WHERE job_id = @id ORDER BY id
            """, new { id })).AsList();
    }

    private async Task<Guid> StartReplicationAsync(HttpClient admin, OmaWithOssea env, string agent, long? bandwidth = null, int? schedule = null)
    {
        using var response = await admin.PostAsJsonAsync("/api/v1/replications",
            new { vmPath = Vm.InventoryPath, agent, osseaConfigId = env.ConfigId, bandwidthLimitBps = bandwidth, scheduleIntervalSeconds = schedule });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToString());
        return body.GetProperty("id").GetGuid();
    }

    private async Task<DateTime> RequestSyncAsync(HttpClient admin, Guid id)
    {
        var before = (await GetReplicationAsync(admin, id)).GetProperty("lastSyncCompletedAt").GetDateTime();
        using var response = await admin.PostAsync($"/api/v1/replications/{id}/sync", null);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), await response.Content.ReadAsStringAsync());
        return before;
    }

    [Test]
    public async Task A_full_then_an_incremental_replication_make_every_target_equal_its_source_and_copy_only_what_changed()
    {
        var disks = CreateImages([(0, 3 * MiB), (10 * MiB + 4096, 2 * MiB)], [(MiB, 4 * MiB)], [(20 * MiB, MiB)]);
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, disks[0].Key, "*", [(0, 3 * MiB), (10 * MiB, 3 * MiB)]),
            (Vm.Ref.Value, disks[1].Key, "*", [(MiB, 4 * MiB)]),
            (Vm.Ref.Value, disks[2].Key, "*", [(20 * MiB, MiB)]));
        var (env, agent, admin) = await StartAsync(disks, "vma-repl");
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;

        var id = await StartReplicationAsync(admin, env, agent.Name);
        var full = await WaitIdleAsync(admin, id, null);
        var afterFull = await DisksAsync(id);
        var fullHistory = await HistoryAsync(id);
        Assert.Multiple(() =>
        {
            Assert.That(full.GetProperty("sourceVmId").GetString(), Is.EqualTo(Vm.Ref.Value), "the inventory path was resolved to the moref");
            Assert.That(full.GetProperty("replicationType").GetString(), Is.EqualTo("incremental"));
            Assert.That(afterFull.Keys, Is.EquivalentTo(disks.Select(d => d.Key)));
            Assert.That(afterFull.Values.Select(d => d.DiskChangeId), Has.All.Not.Null);
            Assert.That(afterFull.Values.Select(d => d.SyncStatus), Has.All.EqualTo("completed"));
            Assert.That(afterFull.Values.Select(d => d.OsseaVolumeId), Has.All.Not.Null);
            Assert.That(fullHistory.Select(h => h.SyncType), Has.All.EqualTo("full"));
            Assert.That(fullHistory.Select(h => h.DiskId), Is.EquivalentTo(disks.Select(d => d.Key.ToString(CultureInfo.InvariantCulture))));
            Assert.That(fullHistory.Single(h => h.DiskId == disks[0].Key.ToString(CultureInfo.InvariantCulture)).ExtentsCopied, Is.GreaterThanOrEqualTo(2));
        });
        var volumesAfterFull = afterFull.ToDictionary(d => d.Key, d => d.Value.OsseaVolumeId);
        foreach (var (key, image) in disks)
        {
            await AssertSameAsync(image, await DevicePathAsync(env, afterFull[key].OsseaVolumeId!.Value));
        }

        // Changes on disks 0 and 1 only, recorded for QueryChangedDiskAreas since the change ids the job stored.
        TestImages.Fill(disks[0].Image, [(5 * MiB, MiB)]);
        TestImages.Fill(disks[1].Image, [(2 * MiB, 64 * 1024)]);
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, disks[0].Key, afterFull[disks[0].Key].DiskChangeId!, [(5 * MiB, MiB)]),
            (Vm.Ref.Value, disks[1].Key, afterFull[disks[1].Key].DiskChangeId!, [(2 * MiB, 64 * 1024)]));
        var before = await RequestSyncAsync(admin, id);
        await WaitIdleAsync(admin, id, before);
        var afterIncr = await DisksAsync(id);
        var incremental = (await HistoryAsync(id)).Skip(fullHistory.Count).ToDictionary(h => int.Parse(h.DiskId, CultureInfo.InvariantCulture));
        Assert.Multiple(() =>
        {
            Assert.That(incremental.Values.Select(h => h.SyncType), Has.All.EqualTo("incremental"));
            Assert.That(incremental[disks[0].Key].ExtentsCopied, Is.EqualTo(1));
            Assert.That(incremental[disks[0].Key].BytesTransferred, Is.EqualTo(MiB), "only the changed extent");
            Assert.That(incremental[disks[1].Key].BytesTransferred, Is.EqualTo(64 * 1024));
            Assert.That(incremental[disks[2].Key].BytesTransferred, Is.Zero, "nothing changed on disk 2");
            Assert.That(incremental[disks[0].Key].PreviousChangeId, Is.EqualTo(afterFull[disks[0].Key].DiskChangeId));
            Assert.That(afterIncr[disks[0].Key].DiskChangeId, Is.EqualTo(incremental[disks[0].Key].ChangeId).And.Not.EqualTo(afterFull[disks[0].Key].DiskChangeId));
            Assert.That(afterIncr.ToDictionary(d => d.Key, d => d.Value.OsseaVolumeId), Is.EquivalentTo(volumesAfterFull), "later runs reuse the volumes");
        });
        foreach (var (key, image) in disks)
        {
            await AssertSameAsync(image, await DevicePathAsync(env, afterIncr[key].OsseaVolumeId!.Value));
        }

        // Every step of both runs is in the job log.
        var page = await admin.GetFromJsonAsync<JsonElement>("/api/v1/jobs?type=replication.sync&pageSize=50");
        var runs = page.GetProperty("items").EnumerateArray().Where(j => j.GetProperty("entityId").GetString() == id.ToString()).ToList();
        Assert.That(runs, Has.Count.EqualTo(2));
        foreach (var run in runs)
        {
            var details = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/jobs/{run.GetProperty("id").GetGuid()}");
            var steps = details.GetProperty("steps").EnumerateArray().ToList();
            Assert.Multiple(() =>
            {
                Assert.That(details.GetProperty("job").GetProperty("status").GetString(), Is.EqualTo("completed"));
                Assert.That(steps.Select(s => s.GetProperty("name").GetString()),
                    Is.EqualTo(new[] { "discover VM", "ensure CBT", "prepare volumes", "snapshot", "copy disks", "finish" }));
                Assert.That(steps.Select(s => s.GetProperty("status").GetString()), Has.All.EqualTo("completed"));
                Assert.That(details.GetProperty("log").EnumerateArray().Select(l => l.GetProperty("message").GetString()),
                    Has.Some.Contains("change id").And.Some.Contains("VMA sync"));
            });
        }
        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).Snapshots, Is.Empty, "each run deleted its snapshot");
    }

    [Test]
    public async Task A_change_id_vcenter_rejects_falls_back_to_a_full_copy_onto_a_zeroed_target()
    {
        var disks = CreateImages([(0, 8 * MiB)], [(0, 2 * MiB)], [(0, MiB)]);
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, disks[0].Key, "*", [(0, 8 * MiB)]),
            (Vm.Ref.Value, disks[1].Key, "*", [(0, 2 * MiB)]),
            (Vm.Ref.Value, disks[2].Key, "*", [(0, MiB)]));
        var (env, agent, admin) = await StartAsync(disks, "vma-reset");
        await using var _env = env;
        await using var _agent = agent;
        using var _admin = admin;
        var id = await StartReplicationAsync(admin, env, agent.Name, schedule: 3600);
        var full = await WaitIdleAsync(admin, id, null);
        var afterFull = await DisksAsync(id);
        var lastSync = full.GetProperty("lastSyncCompletedAt").GetDateTime();
        Assert.That(full.GetProperty("nextSyncAt").GetDateTime(), Is.EqualTo(lastSync.AddHours(1)), "the next sync is scheduled from the interval");

        // vCenter lost disk 0's tracking: the stored change id is one it never issued. Its source now
        // has data only in [0, 4 MiB) and [10 MiB, 11 MiB): the old data at [4, 8) must not survive on the target.
        const string Lost = "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/9";
        await using (var conn = await OpenAsync())
        {
            await conn.ExecuteAsync("UPDATE vm_disks SET disk_change_id = @Lost WHERE id = @Id", new { Lost, afterFull[disks[0].Key].Id });
        }
        await using (var image = new FileStream(disks[0].Image, FileMode.Open, FileAccess.Write))
        {
            image.SetLength(0);
            image.SetLength(ImageSize);
        }
        TestImages.Fill(disks[0].Image, [(0, 4 * MiB), (10 * MiB, MiB)]);
        TestImages.Fill(disks[1].Image, [(MiB, 4096)]);
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, disks[0].Key, "*", [(0, 4 * MiB), (10 * MiB, MiB)]),
            (Vm.Ref.Value, disks[1].Key, afterFull[disks[1].Key].DiskChangeId!, [(MiB, 4096)]));
        var fullRows = (await HistoryAsync(id)).Count;
        // The hour passes: the schedule, not a request, starts this sync.
        await using (var conn = await OpenAsync())
        {
            await conn.ExecuteAsync("UPDATE replication_jobs SET next_sync_at = UTC_TIMESTAMP(6) - INTERVAL 1 SECOND WHERE id = @id", new { id });
        }
        await WaitIdleAsync(admin, id, lastSync);

        var history = (await HistoryAsync(id)).Skip(fullRows).ToList();
        var key0 = disks[0].Key.ToString(CultureInfo.InvariantCulture);
        var reset = history.Where(h => h.DiskId == key0).ToList();
        var afterReset = await DisksAsync(id);
        Assert.Multiple(() =>
        {
            Assert.That(reset, Has.Count.EqualTo(2), "the rejected id set aside, then the full copy");
            Assert.That(reset[0].PreviousChangeId, Is.EqualTo(Lost));
            Assert.That(reset[0].Reason, Does.Contain("CBT reset").And.Contain(Lost));
            Assert.That(reset[1].SyncType, Is.EqualTo("full"));
            Assert.That(reset[1].Reason, Does.Contain("CBT reset"));
            Assert.That(reset[1].ExtentsCopied, Is.EqualTo(2));
            Assert.That(afterReset[disks[0].Key].DiskChangeId, Is.EqualTo(reset[1].ChangeId).And.Not.EqualTo(Lost));
            Assert.That(history.Single(h => h.DiskId == disks[1].Key.ToString(CultureInfo.InvariantCulture)).SyncType, Is.EqualTo("incremental"));
            Assert.That(afterReset[disks[0].Key].OsseaVolumeId, Is.EqualTo(afterFull[disks[0].Key].OsseaVolumeId), "the volume is zeroed, not replaced");
        });
        foreach (var (key, image) in disks)
        {
            await AssertSameAsync(image, await DevicePathAsync(env, afterReset[key].OsseaVolumeId!.Value));
        }
        var page = await admin.GetFromJsonAsync<JsonElement>("/api/v1/jobs?type=replication.sync&pageSize=50");
        var last = page.GetProperty("items").EnumerateArray().First(j => j.GetProperty("entityId").GetString() == id.ToString());
        var details = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/jobs/{last.GetProperty("id").GetGuid()}");
        Assert.That(details.GetProperty("log").EnumerateArray().Select(l => l.GetProperty("message").GetString()),
            Has.Some.Contains("CBT reset").And.Some.Contains("zeroed"));
    }

    [Test]
    public async Task Two_vms_replicate_at_the_same_time()
    {
        await using var vsphere = Sim.CreateClient();
        var small = (await vsphere.DiscoverVmsAsync(CancellationToken.None)).Single(v => v.Name == "DC0_H0_VM0"); // one 1 MiB disk
        var disks = CreateImages([(0, 6 * MiB)], [(0, MiB)], [(0, MiB)]);
        var smallImage = TestImages.Create(TestDirectories.Create("repl-images"), "small.raw", MiB, [(0, MiB)]);
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, disks[0].Key, "*", [(0, 6 * MiB)]),
            (Vm.Ref.Value, disks[1].Key, "*", [(0, MiB)]),
            (Vm.Ref.Value, disks[2].Key, "*", [(0, MiB)]),
            (small.Ref.Value, small.Disks[0].DeviceKey, "*", [(0, MiB)]));
        await using var env = await OmaWithOssea.StartAsync(ConnectionString,
            FastWorker(("Replication:MaxConcurrentJobs", "2")));
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-two",
            disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)).Append((small.Ref.Value, small.Disks[0].DeviceKey, smallImage)));
        using var admin = await env.Host.CreateAdminClientAsync();

        var big = await StartReplicationAsync(admin, env, agent.Name, bandwidth: 2 * MiB); // 8 MiB at 2 MiB/s
        Guid other;
        using (var response = await admin.PostAsJsonAsync("/api/v1/replications",
            new { vmMoref = small.Ref.Value, agent = agent.Name, osseaConfigId = env.ConfigId, bandwidthLimitBps = MiB }))
        {
            var body = await response.Content.ReadFromJsonAsync<JsonElement>();
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToString());
            other = body.GetProperty("id").GetGuid();
        }
        var together = false;
        var clock = Stopwatch.StartNew();
        while (!together && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            await using var conn = await OpenAsync();
            together = await conn.QuerySingleAsync<long>(
                "SELECT COUNT(*) FROM replication_jobs WHERE id IN (@big, @other) AND status = 'replicating'", new { big, other }) == 2;
            await Task.Delay(50);
        }
        await WaitIdleAsync(admin, big, null);
        await WaitIdleAsync(admin, other, null);
        var bigDisks = await DisksAsync(big);
        var smallDisks = await DisksAsync(other);
        Assert.Multiple(() =>
        {
            Assert.That(together, Is.True, "both jobs were replicating at the same time");
            Assert.That(smallDisks.Keys, Is.EquivalentTo(new[] { small.Disks[0].DeviceKey }));
            Assert.That(bigDisks.Values.Select(d => d.OsseaVolumeId).Intersect(smallDisks.Values.Select(d => d.OsseaVolumeId)), Is.Empty);
        });
        foreach (var (key, image) in disks)
        {
            await AssertSameAsync(image, await DevicePathAsync(env, bigDisks[key].OsseaVolumeId!.Value));
        }
        await AssertSameAsync(smallImage, await DevicePathAsync(env, smallDisks[small.Disks[0].DeviceKey].OsseaVolumeId!.Value), MiB);
    }
}
