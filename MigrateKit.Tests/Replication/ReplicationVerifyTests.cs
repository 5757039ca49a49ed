using System.Globalization;
using System.Security.Cryptography;
using System.Net;
using System.Text.Json;
using Dapper;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>
/// Verification after a sync (verify_after_sync): the VMA hashes the snapshot, the Volume module the
/// OMA-attached device, over what the sync wrote. Real simulator, agent, tunnel, loop devices.
/// </summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationVerifyTests : SimulatedVmTest
{
    private const long ImageSize = 16 * MiB;

    private static readonly Dictionary<string, string?> FrequentCheckpoints = new()
    {
        ["Vma:Streaming:CheckpointInterval"] = "00:00:00.300",
        ["Vma:Streaming:CheckpointBytes"] = MiB.ToString(CultureInfo.InvariantCulture),
    };

    private (int Key, string Image)[] CreateImages(params (long, long)[][] data)
    {
        var dir = TestDirectories.Create("repl-verify");
        var disks = Vm.Disks.Select((d, i) => (d.DeviceKey, TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select((d, i) => (Vm.Ref.Value, d.DeviceKey, "*", data[i])).ToArray());
        return disks;
    }

    private static Task<string?> MismatchesAsync(Guid id, int key) => QueryAsync<string?>(
        "SELECT verify_mismatch_ranges FROM vm_disks WHERE job_id = @id AND disk_id = @key", new { id, key = key.ToString(CultureInfo.InvariantCulture) });

    private static Task<string> ChangeIdAsync(Guid id, int key) => QueryAsync<string>(
        "SELECT disk_change_id FROM vm_disks WHERE job_id = @id AND disk_id = @key", new { id, key = key.ToString(CultureInfo.InvariantCulture) });

    private static async Task<IReadOnlyList<string>> LastRunLogAsync(Guid id)
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<string>("""
            SELECT l.message FROM job_log l
            WHERE l.job_id = (SELECT j.id FROM jobs j WHERE j.job_type = 'replication.sync' AND j.entity_id = @id ORDER BY j.created_at DESC LIMIT 1)
            ORDER BY l.id
            """, new { id = id.ToString() })).AsList();
    }

    [Test]
    public async Task A_verified_full_and_incremental_sync_compare_what_they_wrote_and_pass()
    {
        var disks = CreateImages([(0, 3 * MiB), (9 * MiB, MiB)], [(MiB, 2 * MiB)], [(0, MiB)]);
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(("Replication:VerifyChunkBytes", (256 * 1024).ToString(CultureInfo.InvariantCulture))));
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-verify", disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)));
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name, verify: true);
        var full = await WaitIdleAsync(admin, id, null);
        var fullLog = await LastRunLogAsync(id);

        TestImages.Fill(disks[0].Image, [(5 * MiB, 512 * 1024)]);
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, disks[0].Key, await ChangeIdAsync(id, disks[0].Key), [(5 * MiB, 512 * 1024)]));
        using (var request = await admin.PostAsync($"/api/v1/replications/{id}/sync", null))
        {
            Assert.That(request.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }
        await WaitIdleAsync(admin, id, LastSync(full));
        var incrementalLog = await LastRunLogAsync(id);
        Assert.Multiple(() =>
        {
            Assert.That(full.GetProperty("verifyAfterSync").GetBoolean(), Is.True);
            // 4 MiB of disk 0 in 256 KiB chunks; the full copy's areas are the allocated ones.
            Assert.That(fullLog, Has.Some.Contains($"disk {disks[0].Key}: 16 chunk(s), {4 * MiB} bytes since the start (full copy): source and target equal"));
            Assert.That(fullLog, Has.Some.Contains($"disk {disks[1].Key}: 8 chunk(s), {2 * MiB} bytes"));
            Assert.That(incrementalLog, Has.Some.Contains($"disk {disks[0].Key}: 2 chunk(s), {512 * 1024} bytes since change id"));
            Assert.That(incrementalLog, Has.Some.Contains($"disk {disks[2].Key}: 0 chunk(s), 0 bytes since change id"));
        });
        await AssertTargetsAsync(env, id, disks, ImageSize);

        // The Volume module's side on its own: SHA-256 per range of the OMA-attached device; refusals for what it cannot read.
        var rows = await VolumeRowsAsync(id);
        var volume = (await env.SendAsync(new GetVolumeByRowIdQuery(rows[disks[0].Key])))!;
        var image = await File.ReadAllBytesAsync(disks[0].Image);
        var hashes = await env.SendAsync(new HashVolumeRangesQuery(volume.VolumeId, [new(0, 3 * MiB), new(9 * MiB + 7, 1000), new(14 * MiB, MiB)]));
        var pastEnd = Assert.ThrowsAsync<RequestValidationException>(() =>
            env.SendAsync(new HashVolumeRangesQuery(volume.VolumeId, [new(volume.SizeBytes - 10, 20)])));
        var badRange = Assert.ThrowsAsync<RequestValidationException>(() => env.SendAsync(new HashVolumeRangesQuery(volume.VolumeId, [new(-1, 0)])));
        await env.SendAsync(new DetachVolumeCommand(volume.VolumeId));
        var detached = Assert.ThrowsAsync<ConflictException>(() => env.SendAsync(new HashVolumeRangesQuery(volume.VolumeId, [new(0, MiB)])));
        Assert.Multiple(() =>
        {
            Assert.That(hashes.Select(h => (h.Offset, h.Length, h.Sha256)), Is.EqualTo(new (long, long)[] { (0, 3 * MiB), (9 * MiB + 7, 1000), (14 * MiB, MiB) }
                .Select(r => (r.Item1, r.Item2, Convert.ToHexStringLower(SHA256.HashData(image.AsSpan((int)r.Item1, (int)r.Item2)))))));
            Assert.That(pastEnd!.Errors.Keys, Does.Contain("Ranges"));
            Assert.That(badRange!.Errors, Is.Not.Empty);
            Assert.That(detached!.Message, Does.Contain("not attached to the OMA"));
        });
    }

    [Test]
    public async Task A_target_corrupted_between_copy_and_verify_fails_the_sync_records_the_ranges_and_the_next_sync_repairs_them()
    {
        // Disk 0 is big and slow under the bandwidth limit; disk 1 finishes early, and its target is damaged while disk 0 still copies.
        var disks = CreateImages([(0, 10 * MiB)], [(0, 2 * MiB)], [(0, MiB)]);
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker(("Replication:VerifyChunkBytes", (256 * 1024).ToString(CultureInfo.InvariantCulture))));
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-corrupt", disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)), FrequentCheckpoints);
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name, bandwidth: 2 * MiB, verify: true);
        var key1 = disks[1].Key.ToString(CultureInfo.InvariantCulture);
        await WaitAsync(async () => await QueryAsync<string>(
                "SELECT COALESCE((SELECT sync_status FROM vm_disks WHERE job_id = @id AND disk_id = @key1), '')", new { id, key1 }) == "completed",
            TimeSpan.FromSeconds(30), "disk 1 copied");
        Assert.That(await QueryAsync<string>("SELECT sync_status FROM vm_disks WHERE job_id = @id AND disk_id = @key0",
            new { id, key0 = disks[0].Key.ToString(CultureInfo.InvariantCulture) }), Is.Not.EqualTo("completed"), "disk 0 still copies: the verify has not run");

        // Write behind the export's back, straight onto the loop device (bytes that differ from the source's).
        var rows = await VolumeRowsAsync(id);
        var device = await DevicePathAsync(env, rows[disks[1].Key]);
        const long Damaged = MiB + 300 * 1024; // inside the 256 KiB chunk at 1 MiB + 256 KiB
        var source = new byte[4096];
        await using (var image = File.OpenRead(disks[1].Image))
        {
            image.Position = Damaged;
            await image.ReadExactlyAsync(source);
        }
        await using (var target = new FileStream(device, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            target.Position = Damaged;
            await target.WriteAsync(source.Select(b => (byte)~b).ToArray());
            target.Flush(flushToDisk: true);
        }

        await WaitAsync(async () => await StatusAsync(id) is "failed" or "idle", TimeSpan.FromSeconds(60), "the sync ended");
        var job = await GetReplicationAsync(admin, id);
        var recorded = await MismatchesAsync(id, disks[1].Key);
        var inventory = await Sim.InventoryAsync(CancellationToken.None);
        Assert.Multiple(async () =>
        {
            Assert.That(job.GetProperty("status").GetString(), Is.EqualTo("failed"));
            Assert.That(job.GetProperty("errorMessage").GetString(), Does.Contain("verification failed").And.Contain($"disk {disks[1].Key}: 1 range(s) differ ({MiB + 256 * 1024}+{256 * 1024})"));
            Assert.That(recorded, Is.Not.Null);
            Assert.That(JsonSerializer.Deserialize<JsonElement>(recorded!).EnumerateArray().Select(r => (r.GetProperty("offset").GetInt64(), r.GetProperty("length").GetInt64())),
                Is.EqualTo(new[] { (MiB + 256 * 1024, 256 * 1024L) }));
            Assert.That(await MismatchesAsync(id, disks[0].Key), Is.Null);
            Assert.That(await MismatchesAsync(id, disks[2].Key), Is.Null);
            Assert.That(await QueryAsync<string?>("SELECT snapshot_id FROM replication_jobs WHERE id = @id", new { id }), Is.Null);
            Assert.That(inventory.Single(v => v.Moref == Vm.Ref.Value).Snapshots, Is.Empty, "the change ids are recorded; the snapshot went");
        });

        // Nothing changed on the source since: the next sync copies only the recorded range, then verifies it.
        var before = await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id", new { id });
        var runs = await SyncRunsAsync(id);
        using (var request = await admin.PostAsync($"/api/v1/replications/{id}/sync", null))
        {
            Assert.That(request.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
        }
        await WaitAsync(async () => await SyncRunsAsync(id) > runs, TimeSpan.FromSeconds(30), "the repairing sync started");
        await WaitIdleAsync(admin, id, null);
        var repair = await QueryAsync<long>("SELECT bytes_transferred FROM cbt_history WHERE job_id = @id AND disk_id = @key1 ORDER BY id DESC LIMIT 1", new { id, key1 });
        var log = await LastRunLogAsync(id);
        Assert.Multiple(async () =>
        {
            Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id", new { id }), Is.EqualTo(before + 3));
            Assert.That(repair, Is.EqualTo(256 * 1024), "only the mismatching chunk was copied again");
            Assert.That(await MismatchesAsync(id, disks[1].Key), Is.Null, "cleared once repaired");
            Assert.That(log, Has.Some.Contains("plus 1 range(s) a verification found different"));
            Assert.That(log, Has.Some.Contains($"disk {disks[1].Key}: 1 chunk(s), {256 * 1024} bytes since change id").And.Some.Contains("plus 1 recopied range(s): source and target equal"));
        });
        await AssertTargetsAsync(env, id, disks, ImageSize);
    }
}
