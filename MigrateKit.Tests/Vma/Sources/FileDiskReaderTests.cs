using System.Net.Sockets;
using System.Text.Json;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Vma.Support;

namespace MigrateKit.Tests.Vma.Sources;

/// <summary>
/// The direct file reader against real sparse files (holes from SetLength and <c>fallocate
/// --punch-hole</c>), with nbdkit's file plugin as the reference for the allocation map, a loop
/// device for the block-device path, and a copy into <c>nbdkit memory</c> checked by qemu-img.
/// </summary>
[NonParallelizable] // runs nbdkit, nbdinfo, qemu-img and losetup; side by side on 2 cores their timeouts get flaky
[CancelAfter(60_000)]
[Category(TestKind.Peer)]
public sealed class FileDiskReaderTests
{
    private const long KiB = 1024;
    private const long MiB = 1024 * KiB;
    private const long ImageSize = 16 * MiB;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Allocated bytes of <see cref="SparseImageAsync"/>, of which <see cref="ZeroDataBytes"/> are written zeroes.</summary>
    private const long AllocatedBytes = MiB + 192 * KiB + MiB + (MiB - 128 * KiB) + 4 * KiB;
    private const long ZeroDataBytes = MiB;

    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    /// <summary>
    /// 16 MiB: data [0, 1M), hole, data [5M, 5M+192K), written zeroes [6M, 7M), hole, data [12M, 13M)
    /// with a 128 KiB hole punched at 12M+256K, hole, data in the last 4 KiB.
    /// </summary>
    private static async Task<string> SparseImageAsync(string directory)
    {
        var path = TestImages.Create(directory, "sparse.img", ImageSize,
            [(0, MiB), (5 * MiB, 192 * KiB), (12 * MiB, MiB), (ImageSize - 4 * KiB, 4 * KiB)]);
        TestImages.Zero(path, 6 * MiB, MiB);
        await using var punch = await ExternalProcess.RunAsync("fallocate",
            ["--punch-hole", "--offset", (12 * MiB + 256 * KiB).ToString(System.Globalization.CultureInfo.InvariantCulture), "--length", (128 * KiB).ToString(System.Globalization.CultureInfo.InvariantCulture), path],
            ToolTimeout);
        Assert.That(punch.ExitCode, Is.Zero, punch.ToString());
        return path;
    }

    private static readonly (long Offset, long Length, int Type)[] ExpectedMap =
    [
        (0, MiB, 0),
        (MiB, 4 * MiB, 3),
        (5 * MiB, 192 * KiB, 0),
        (5 * MiB + 192 * KiB, MiB - 192 * KiB, 3),
        (6 * MiB, MiB, 0),
        (7 * MiB, 5 * MiB, 3),
        (12 * MiB, 256 * KiB, 0),
        (12 * MiB + 256 * KiB, 128 * KiB, 3),
        (12 * MiB + 384 * KiB, MiB - 384 * KiB, 0),
        (13 * MiB, 3 * MiB - 4 * KiB, 3),
        (ImageSize - 4 * KiB, 4 * KiB, 0),
    ];

    /// <summary>The whole map of a reader, asking again where an answer stops; touching extents of one kind merged.</summary>
    private static async Task<List<(long Offset, long Length, int Type)>> MapAsync(IDiskReader reader)
    {
        var map = new List<(long Offset, long Length, int Type)>();
        for (long at = 0, calls = 0; at < reader.Size; calls++)
        {
            Assert.That(calls, Is.LessThan(10_000), "block status does not progress");
            var extents = await reader.BlockStatusAsync(at, reader.Size - at, Ct);
            Assert.That(extents, Is.Not.Empty);
            foreach (var x in extents)
            {
                Assert.That(x.Offset, Is.EqualTo(at), "extents must be in order and touching");
                Add(map, (x.Offset, x.Length, (x.IsHole ? 1 : 0) | (x.IsZero ? 2 : 0)));
                at += x.Length;
            }
        }
        return map;
    }

    private static void Add(List<(long Offset, long Length, int Type)> map, (long Offset, long Length, int Type) x)
    {
        if (map.Count > 0 && map[^1].Type == x.Type && map[^1].Offset + map[^1].Length == x.Offset)
        {
            map[^1] = (map[^1].Offset, map[^1].Length + x.Length, x.Type);
        }
        else
        {
            map.Add(x);
        }
    }

    /// <summary><c>nbdinfo --map</c> of <c>nbdkit file</c> serving the same file: the reference peer.</summary>
    private static async Task<List<(long Offset, long Length, int Type)>> NbdkitMapAsync(string path)
    {
        await using var run = await ExternalProcess.RunAsync("nbdinfo",
            ["--map", "--json", "--", "[", "nbdkit", "--readonly", "file", path, "]"], ToolTimeout, ct: Ct);
        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        using var json = JsonDocument.Parse(run.StandardOutput);
        var map = new List<(long Offset, long Length, int Type)>();
        foreach (var e in json.RootElement.EnumerateArray())
        {
            Add(map, (e.GetProperty("offset").GetInt64(), e.GetProperty("length").GetInt64(), e.GetProperty("type").GetInt32()));
        }
        return map;
    }

    private static string ShmDirectory()
    {
        if (!Directory.Exists("/dev/shm"))
        {
            Assert.Ignore("no /dev/shm on this machine");
        }
        return Directory.CreateDirectory(Path.Combine("/dev/shm", $"mk-filesrc-{Guid.NewGuid():N}")).FullName;
    }

    [TestCase("temp")]
    [TestCase("shm")]
    public async Task The_allocation_map_matches_nbdkit_file_on_the_same_file(string where)
    {
        var directory = where == "shm" ? ShmDirectory() : TestDirectories.Create("filesrc-map");
        try
        {
            var image = await SparseImageAsync(directory);
            await using var reader = FileDiskReader.Open(image);
            var ours = await MapAsync(reader);
            var nbdkit = await NbdkitMapAsync(image);
            Assert.Multiple(() =>
            {
                Assert.That(reader.HasAllocationMap, Is.True);
                Assert.That(reader.IsBlockDevice, Is.False);
                Assert.That(reader.Size, Is.EqualTo(ImageSize));
                Assert.That(ours, Is.EqualTo(nbdkit), "data/hole layout differs from nbdkit file's");
                Assert.That(ours, Is.EqualTo(ExpectedMap), "the file system did not keep the holes the test made");
            });
        }
        finally
        {
            if (where == "shm")
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    [Test]
    public async Task Block_status_of_a_range_inside_the_file_starts_and_ends_at_the_range()
    {
        var image = await SparseImageAsync(TestDirectories.Create("filesrc-range"));
        await using var reader = FileDiskReader.Open(image);
        var extents = await reader.BlockStatusAsync(MiB / 2, 5 * MiB, Ct);
        Assert.That(extents.Select(x => (x.Offset, x.Length, x.IsHole)), Is.EqualTo(new[]
        {
            (MiB / 2, MiB / 2, false),
            (MiB, 4 * MiB, true),
            (5 * MiB, 192 * KiB, false),
            (5 * MiB + 192 * KiB, 320 * KiB, true),
        }));
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(() => reader.BlockStatusAsync(ImageSize - 1, 2, Ct));
    }

    [Test]
    public async Task A_fragmented_file_is_answered_in_bounded_pieces_and_planned_whole()
    {
        const int Blocks = 2100; // 4 KiB data then 4 KiB hole, twice the extents of one answer
        var image = TestImages.Create(TestDirectories.Create("filesrc-frag"), "frag.img", Blocks * 8 * KiB,
            Enumerable.Range(0, Blocks).Select(i => (i * 8 * KiB, 4 * KiB)));
        await using var reader = FileDiskReader.Open(image);
        var first = await reader.BlockStatusAsync(0, reader.Size, Ct);
        var plan = await DiskCopier.PlanAsync(reader, [new DiskExtent(0, reader.Size)], 0, reader.Size, Ct);
        Assert.Multiple(() =>
        {
            Assert.That(first, Has.Count.EqualTo(FileDiskReader.MaxExtentsPerCall));
            Assert.That(plan, Has.Count.EqualTo(2 * Blocks));
            Assert.That(plan.Where(x => !x.Zero).Sum(x => x.Length), Is.EqualTo(Blocks * 4 * KiB));
            Assert.That(plan.Where(x => !x.Zero).Select(x => x.Offset), Is.EqualTo(Enumerable.Range(0, Blocks).Select(i => i * 8 * KiB)));
        });
    }

    [Test]
    public async Task Reads_are_byte_exact_whole_and_at_unaligned_ranges_in_parallel()
    {
        var image = await SparseImageAsync(TestDirectories.Create("filesrc-read"));
        var expected = await File.ReadAllBytesAsync(image, Ct);
        await using var reader = FileDiskReader.Open(image);
        var whole = new byte[reader.Size];
        await reader.ReadAsync(0, whole, Ct);
        Assert.That(whole.AsSpan().SequenceEqual(expected), Is.True, "whole-image read differs");

        var random = new Random(20261124);
        var ranges = Enumerable.Range(0, 200).Select(_ =>
        {
            var offset = random.NextInt64(0, ImageSize);
            return (Offset: offset, Length: (int)random.NextInt64(0, Math.Min(3 * MiB, ImageSize - offset) + 1));
        }).Append((Offset: ImageSize - 1, Length: 1)).Append((Offset: ImageSize, Length: 0)).ToList();
        var mismatches = await Task.WhenAll(ranges.Select(r => Task.Run(async () =>
        {
            var buffer = new byte[r.Length];
            await reader.ReadAsync(r.Offset, buffer, Ct);
            return buffer.AsSpan().SequenceEqual(expected.AsSpan((int)r.Offset, r.Length)) ? null : $"{r.Offset}+{r.Length}";
        }, Ct)));
        Assert.That(mismatches.Where(m => m is not null), Is.Empty);
    }

    [Test]
    public async Task Reading_past_the_end_is_an_IOException_that_says_so()
    {
        var image = TestImages.Create(TestDirectories.Create("filesrc-eof"), "small.img", MiB, [(0, MiB)]);
        await using var reader = FileDiskReader.Open(image);
        var straddling = Assert.ThrowsAsync<IOException>(async () => await reader.ReadAsync(MiB - 10, new byte[20], Ct));
        var after = Assert.ThrowsAsync<IOException>(async () => await reader.ReadAsync(MiB, new byte[1], Ct));
        Assert.Multiple(() =>
        {
            Assert.That(straddling!.Message, Does.Contain("past its end").And.Contain(image));
            Assert.That(after!.Message, Does.Contain("past its end"));
        });
        Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await reader.ReadAsync(-1, new byte[1], Ct));
    }

    [Test]
    public async Task A_file_truncated_while_open_fails_the_read_instead_of_returning_short_data()
    {
        var image = TestImages.Create(TestDirectories.Create("filesrc-trunc"), "shrinks.img", 4 * MiB, [(0, 4 * MiB)]);
        await using var reader = FileDiskReader.Open(image);
        await using var truncate = await ExternalProcess.RunAsync("truncate", ["--size", "1M", image], ToolTimeout, ct: Ct);
        Assert.That(truncate.ExitCode, Is.Zero, truncate.ToString());
        var ex = Assert.ThrowsAsync<IOException>(async () => await reader.ReadAsync(MiB / 2, new byte[MiB], Ct));
        Assert.That(ex!.Message, Does.Contain("truncated"));
    }

    [Test]
    public void A_missing_file_a_directory_an_empty_file_or_a_character_device_is_a_DiskSourceException()
    {
        var directory = TestDirectories.Create("filesrc-missing");
        var missing = Path.Combine(directory, "none.img");
        var viaFactory = Assert.ThrowsAsync<DiskSourceException>(() => MappedDiskSourceFactory.OpenSourceAsync(missing, Ct));
        var direct = Assert.Throws<DiskSourceException>(() => FileDiskReader.Open(missing));
        var folder = Assert.ThrowsAsync<DiskSourceException>(() => MappedDiskSourceFactory.OpenSourceAsync(directory, Ct));
        var empty = Path.Combine(directory, "empty.img");
        File.WriteAllBytes(empty, []);
        var emptyFile = Assert.Throws<DiskSourceException>(() => FileDiskReader.Open(empty));
        var characterDevice = Assert.Throws<DiskSourceException>(() => FileDiskReader.Open("/dev/zero"));
        Assert.Multiple(() =>
        {
            Assert.That(viaFactory!.Message, Does.Contain("does not exist").And.Contain(missing));
            Assert.That(direct!.Message, Does.Contain("does not exist"));
            Assert.That(folder!.Message, Does.Contain("directory"));
            Assert.That(emptyFile!.Message, Does.Contain("empty"));
            Assert.That(characterDevice!.Message, Does.Contain("not a regular file or block device"));
        });
    }

    [Test]
    public async Task A_local_image_opens_as_a_file_reader_and_an_nbd_uri_of_the_same_file_reads_the_same()
    {
        var directory = TestDirectories.Create("filesrc-nbd");
        var image = await SparseImageAsync(directory);
        var socket = Path.Combine(directory, "nbdkit.sock");
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "--readonly", "-U", socket, "file", image]);
        await using var viaNbd = await RetryUntilListeningAsync(() => MappedDiskSourceFactory.OpenSourceAsync($"nbd+unix:///?socket={socket}", Ct), nbdkit);
        await using var direct = await MappedDiskSourceFactory.OpenSourceAsync(image, Ct);
        var nbdBytes = new byte[viaNbd.Size];
        var fileBytes = new byte[direct.Size];
        await viaNbd.Reader.ReadAsync(0, nbdBytes, Ct);
        await direct.Reader.ReadAsync(0, fileBytes, Ct);
        var nbdMap = await MapAsync(viaNbd.Reader);
        var fileMap = await MapAsync(direct.Reader);
        Assert.Multiple(() =>
        {
            Assert.That(direct.Reader, Is.InstanceOf<FileDiskReader>());
            Assert.That(viaNbd.Reader, Is.InstanceOf<NbdDiskReader>());
            Assert.That(viaNbd.Reader.HasAllocationMap, Is.True);
            Assert.That(direct.Size, Is.EqualTo(viaNbd.Size));
            Assert.That(fileMap, Is.EqualTo(nbdMap));
            Assert.That(fileBytes.AsSpan().SequenceEqual(nbdBytes), Is.True);
        });
    }

    [Test]
    public async Task A_sparse_image_copies_into_nbdkit_memory_with_holes_and_zero_data_sent_as_zeroes()
    {
        var directory = TestDirectories.Create("filesrc-copy");
        var image = await SparseImageAsync(directory);
        var socket = Path.Combine(directory, "target.sock");
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "-U", socket, "memory", ImageSize.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await using (var target = await RetryUntilListeningAsync(() => NbdClient.ConnectUnixAsync(socket, "", null, Ct), nbdkit))
        {
            // Garbage everywhere first: a hole that is skipped instead of zeroed would show in the compare.
            var garbage = new byte[ImageSize];
            new Random(7).NextBytes(garbage);
            await target.WriteAsync(0, garbage, ct: Ct);

            await using var source = await MappedDiskSourceFactory.OpenSourceAsync(image, Ct);
            Assert.That(source.Reader, Is.InstanceOf<FileDiskReader>());
            var plan = await DiskCopier.PlanAsync(source.Reader, [new DiskExtent(0, source.Size)], 0, source.Size, Ct);
            var progress = new DiskProgress(new VmaSyncDisk(2000, "memory", "*", 0), TimeProvider.System);
            var copier = new DiskCopier(new StreamingOptions { ChunkBytes = (int)MiB, ChunksInFlight = 4 }, TimeProvider.System);
            await copier.CopyAsync(source.Reader, target, plan, source.Size, progress, null, Ct);
            await target.DisconnectAsync(Ct);

            var view = progress.View();
            Assert.Multiple(() =>
            {
                Assert.That(view.DataBytesSent, Is.EqualTo(AllocatedBytes - ZeroDataBytes), "only non-zero data goes as payload");
                Assert.That(view.ZeroBytesSent, Is.EqualTo(ImageSize - AllocatedBytes + ZeroDataBytes), "holes and written zeroes go as zeroes");
                Assert.That(view.Checkpoint, Is.EqualTo(ImageSize));
            });
        }
        await TestImages.AssertSameAsync(image, $"nbd+unix:///?socket={socket}");
    }

    [Test]
    public async Task A_block_device_is_sized_by_ioctl_and_read_whole_without_an_allocation_map()
    {
        var image = TestImages.Create(TestDirectories.Create("filesrc-dev"), "device.img", 8 * MiB, [(0, MiB), (4 * MiB, MiB)]);
        await using var attach = await ExternalProcess.RunAsync("losetup", ["--find", "--show", "--read-only", image], ToolTimeout, ct: Ct);
        if (attach.ExitCode != 0)
        {
            Assert.Ignore($"no loop device here (needs root): {attach.StandardError.Trim()}");
        }
        var device = attach.StandardOutput.Trim();
        try
        {
            await using var source = await MappedDiskSourceFactory.OpenSourceAsync(device, Ct);
            var reader = (FileDiskReader)source.Reader;
            var status = await reader.BlockStatusAsync(0, reader.Size, Ct);
            var plan = await DiskCopier.PlanAsync(reader, [new DiskExtent(0, reader.Size)], 0, reader.Size, Ct);
            var bytes = new byte[reader.Size];
            await reader.ReadAsync(0, bytes, Ct);
            Assert.Multiple(() =>
            {
                Assert.That(reader.IsBlockDevice, Is.True);
                Assert.That(reader.Size, Is.EqualTo(8 * MiB));
                Assert.That(reader.HasAllocationMap, Is.False);
                Assert.That(status, Is.EqualTo(new[] { new NbdExtent(0, 8 * MiB, false, false) }));
                Assert.That(plan, Is.EqualTo(new[] { new CopyExtent(0, 8 * MiB, false) }));
                Assert.That(bytes.AsSpan().SequenceEqual(File.ReadAllBytes(image)), Is.True);
            });
        }
        finally
        {
            await using var detach = await ExternalProcess.RunAsync("losetup", ["--detach", device], ToolTimeout);
        }
    }

    /// <summary>nbdkit creates its socket at bind(), a moment before listen(): retry until it accepts.</summary>
    private static async Task<T> RetryUntilListeningAsync<T>(Func<Task<T>> connect, ExternalProcess server)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await connect();
            }
            catch (Exception e) when (e is SocketException or DiskSourceException or IOException && attempt < 200 && !server.HasExited)
            {
                await Task.Delay(50, Ct);
            }
        }
    }
}
