using System.Security.Cryptography;
using System.Text.Json;
using MigrateKit.Modules.Vma.Api;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;

namespace MigrateKit.Tests.Vma.Api;

[Parallelizable]
[Category(TestKind.Unit)]
public sealed class HashPlanTests
{
    private const long MiB = 1024 * 1024;

    [Test]
    public void Areas_are_merged_clipped_and_cut_into_chunks_in_offset_order()
    {
        var (chunks, next) = HashPlan.Plan([new DiskExtent(8 * MiB, MiB), new DiskExtent(0, 2 * MiB + 5), new DiskExtent(MiB, MiB)], 0, 16 * MiB,
            (int)MiB, long.MaxValue);
        Assert.Multiple(() =>
        {
            Assert.That(chunks, Is.EqualTo(new[] { new DiskExtent(0, MiB), new DiskExtent(MiB, MiB), new DiskExtent(2 * MiB, 5), new DiskExtent(8 * MiB, MiB) }));
            Assert.That(next, Is.Null);
        });
    }

    [Test]
    public void A_page_stops_at_max_bytes_and_says_where_the_next_starts()
    {
        var areas = new[] { new DiskExtent(0, 3 * MiB), new DiskExtent(10 * MiB, MiB) };
        var (first, next) = HashPlan.Plan(areas, 0, 16 * MiB, (int)MiB, 2 * MiB);
        var (second, end) = HashPlan.Plan(areas, next!.Value, 16 * MiB, (int)MiB, 2 * MiB);
        Assert.Multiple(() =>
        {
            Assert.That(first.Select(c => c.Start), Is.EqualTo(new[] { 0L, MiB }));
            Assert.That(next, Is.EqualTo(2 * MiB));
            Assert.That(second.Select(c => c.Start), Is.EqualTo(new[] { 2 * MiB, 10 * MiB }));
            Assert.That(end, Is.Null);
        });
    }

    [Test]
    public void Areas_past_the_disk_end_are_clipped()
    {
        var (chunks, _) = HashPlan.Plan([new DiskExtent(15 * MiB, 4 * MiB)], 0, 16 * MiB, (int)MiB, long.MaxValue);
        Assert.That(chunks, Is.EqualTo(new[] { new DiskExtent(15 * MiB, MiB) }));
    }

    [Test]
    public void Requests_without_ranges_or_change_id_or_with_bad_sizes_are_refused_by_field()
    {
        Assert.Multiple(() =>
        {
            Assert.That(HashPlan.Validate(2000, new VmaHashRequest(null, null, null, null, null)).Keys, Does.Contain("ranges"));
            Assert.That(HashPlan.Validate(2000, new VmaHashRequest("*", null, 100, -1, 0)).Keys,
                Is.EquivalentTo(new[] { "chunkBytes", "fromOffset", "maxBytes" }));
            Assert.That(HashPlan.Validate(0, new VmaHashRequest(null, [new(-1, 5)], null, null, null)).Keys,
                Is.EquivalentTo(new[] { "deviceKey", "ranges" }));
            Assert.That(HashPlan.Validate(2000, null).Keys, Is.EquivalentTo(new[] { "body" }));
            Assert.That(HashPlan.Validate(2000, new VmaHashRequest("*", [new(0, 1)], (int)MiB, 0, MiB)), Is.Empty);
        });
    }
}

/// <summary>The hash endpoint against the simulator's snapshot and the agent's real source reader (an image read directly).</summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class VmaDiskHashEndpointTests : SimulatedVmTest
{
    private const long MiB = 1024 * 1024;

    private static string Sha(byte[] image, long offset, long length) =>
        Convert.ToHexStringLower(SHA256.HashData(image.AsSpan((int)offset, (int)length)));

    private static List<(long Offset, long Length, string Sha)> Chunks(JsonElement answer) => answer.GetProperty("chunks").EnumerateArray()
        .Select(c => (c.GetProperty("offset").GetInt64(), c.GetProperty("length").GetInt64(), c.GetProperty("sha256").GetString()!)).ToList();

    [Test]
    public async Task The_agent_hashes_changed_areas_and_given_ranges_of_a_snapshot_disk_in_pages()
    {
        var dir = TestDirectories.Create("vma-hash");
        var key = Vm.Disks[0].DeviceKey;
        var image = TestImages.Create(dir, "disk.raw", 16 * MiB, [(0, 3 * MiB), (8 * MiB, MiB)]);
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-hash", [(Vm.Ref.Value, key, image)]);
        var (cbt, cbtBody) = await agent.Local.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/enable-cbt", null);
        Assert.That(cbt, Is.EqualTo(200), cbtBody.ToString());
        var (created, snapshot) = await agent.Local.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots", new { name = "mk-hash" });
        Assert.That(created, Is.EqualTo(201), snapshot.ToString());
        var snapshotId = snapshot.GetProperty("snapshotId").GetString()!;
        Sim.WriteChangedAreas(0, (Vm.Ref.Value, key, "*", [(0, 3 * MiB), (8 * MiB, MiB)]));
        var url = $"api/v1/vms/{Vm.Ref.Value}/snapshots/{snapshotId}/disks/{key}/hashes";
        var bytes = await File.ReadAllBytesAsync(image);
        try
        {
            var (allStatus, all) = await agent.Local.PostJsonAsync(url, new { changeId = "*", chunkBytes = MiB });
            var (firstStatus, first) = await agent.Local.PostJsonAsync(url, new { changeId = "*", chunkBytes = MiB, maxBytes = 2 * MiB });
            var (secondStatus, second) = await agent.Local.PostJsonAsync(url,
                new { changeId = "*", chunkBytes = MiB, maxBytes = 2 * MiB, fromOffset = first.GetProperty("nextOffset").GetInt64() });
            var (unionStatus, union) = await agent.Local.PostJsonAsync(url,
                new { changeId = "*", chunkBytes = MiB, ranges = new[] { new { offset = 5 * MiB / 2, length = MiB }, new { offset = 12 * MiB, length = 100_000L } } });
            var (badStatus, bad) = await agent.Local.PostJsonAsync(url, new { chunkBytes = 100 });
            var (unknownStatus, _) = await agent.Local.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots/{snapshotId}/disks/9999/hashes", new { changeId = "*" });
            Assert.Multiple(() =>
            {
                Assert.That(allStatus, Is.EqualTo(200), all.ToString());
                Assert.That(all.GetProperty("algorithm").GetString(), Is.EqualTo("sha256"));
                Assert.That(Chunks(all), Is.EqualTo(new[] { 0L, MiB, 2 * MiB, 8 * MiB }.Select(o => (o, MiB, Sha(bytes, o, MiB)))));
                Assert.That(all.GetProperty("bytesHashed").GetInt64(), Is.EqualTo(4 * MiB));
                Assert.That(all.GetProperty("nextOffset").ValueKind, Is.EqualTo(JsonValueKind.Null));
                Assert.That(firstStatus, Is.EqualTo(200), first.ToString());
                Assert.That(first.GetProperty("nextOffset").GetInt64(), Is.EqualTo(2 * MiB));
                Assert.That(secondStatus, Is.EqualTo(200), second.ToString());
                Assert.That(Chunks(first).Concat(Chunks(second)), Is.EqualTo(Chunks(all)), "two pages hash what one does");
                Assert.That(unionStatus, Is.EqualTo(200), union.ToString());
                Assert.That(Chunks(union), Is.EqualTo(new (long, long)[] { (0, MiB), (MiB, MiB), (2 * MiB, MiB), (3 * MiB, MiB / 2), (8 * MiB, MiB), (12 * MiB, 100_000) }
                    .Select(c => (c.Item1, c.Item2, Sha(bytes, c.Item1, c.Item2)))), "given ranges join vCenter's areas; a hole hashes as zeroes");
                Assert.That(badStatus, Is.EqualTo(400));
                Assert.That(bad.GetProperty("errors").EnumerateObject().Select(p => p.Name), Is.SupersetOf(new[] { "chunkBytes", "ranges" }));
                Assert.That(unknownStatus, Is.EqualTo(404));
            });
        }
        finally
        {
            await agent.Local.DeleteAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots/{snapshotId}");
        }
    }
}
