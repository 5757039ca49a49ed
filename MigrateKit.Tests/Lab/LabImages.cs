using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MigrateKit.Tests.Support;

namespace MigrateKit.Lab;

/// <summary>A byte range of a disk.</summary>
internal readonly record struct LabExtent(long Start, long Length)
{
    public long End => Start + Length;
}

/// <summary>
/// The source VM's disks as local raw images: disk 1 is an ext4 filesystem holding files (built with
/// mkfs.ext4 -d, changed with debugfs, checked with e2fsck), the others hold blocks of data. What changed
/// between two states is found by comparing the bytes, as vCenter's change tracking would report it.
/// </summary>
internal static class LabImages
{
    public const long MiB = 1024 * 1024;
    private const int ChangeBlock = 64 * 1024;
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromMinutes(2);

    /// <summary>An ext4 image of <paramref name="size"/> bytes holding the files of a small "server".</summary>
    public static async Task CreateFilesystemImageAsync(string image, long size, string workDir, CancellationToken ct)
    {
        var tree = Path.Combine(workDir, "rootfs");
        Directory.CreateDirectory(Path.Combine(tree, "etc"));
        Directory.CreateDirectory(Path.Combine(tree, "docs"));
        Directory.CreateDirectory(Path.Combine(tree, "data"));
        await File.WriteAllTextAsync(Path.Combine(tree, "etc", "hostname"), "lab-web01\n", ct);
        await File.WriteAllTextAsync(Path.Combine(tree, "docs", "README.txt"),
            "This filesystem lives on the source VM's first disk. MigrateKit copies it block by block.\n", ct);
        for (var i = 1; i <= 6; i++)
        {
            await File.WriteAllBytesAsync(Path.Combine(tree, "data", $"blob-{i}.bin"), RandomNumberGenerator.GetBytes((int)(4 * MiB)), ct);
        }
        CreateSparse(image, size);
        await RunAsync("mkfs.ext4", ["-F", "-q", "-b", "4096", "-L", "lab-root", "-d", tree, image], ct);
        Directory.Delete(tree, recursive: true);
    }

    /// <summary>A raw image of <paramref name="size"/> bytes with random data in <paramref name="extents"/> and holes elsewhere.</summary>
    public static void CreateDataImage(string image, long size, IEnumerable<LabExtent> extents)
    {
        CreateSparse(image, size);
        Fill(image, extents);
    }

    /// <summary>Overwrites <paramref name="extents"/> with fresh random data.</summary>
    public static void Fill(string image, IEnumerable<LabExtent> extents)
    {
        using var file = new FileStream(image, FileMode.Open, FileAccess.Write);
        foreach (var extent in extents)
        {
            file.Position = extent.Start;
            for (var done = 0L; done < extent.Length; done += MiB)
            {
                file.Write(RandomNumberGenerator.GetBytes((int)Math.Min(MiB, extent.Length - done)));
            }
        }
    }

    /// <summary>
    /// Changes files inside the ext4 image with debugfs: writes each (path, content) as a new or replaced
    /// file and removes <paramref name="remove"/>; then checks the filesystem with e2fsck -fn and reads every
    /// written file back.
    /// </summary>
    public static async Task ChangeFilesAsync(string image, IReadOnlyList<(string Path, byte[] Content)> write, IReadOnlyList<string> remove,
        string workDir, CancellationToken ct)
    {
        Directory.CreateDirectory(workDir);
        var script = new StringBuilder();
        var i = 0;
        foreach (var (path, content) in write)
        {
            var host = Path.Combine(workDir, $"new-{i++}");
            await File.WriteAllBytesAsync(host, content, ct);
            var (dir, name) = Split(path);
            script.Append("cd ").Append(dir).Append('\n')
                .Append("rm ").Append(name).Append('\n') // replacing: debugfs' write refuses an existing name
                .Append("write ").Append(host).Append(' ').Append(name).Append('\n');
        }
        foreach (var path in remove)
        {
            var (dir, name) = Split(path);
            script.Append("cd ").Append(dir).Append('\n').Append("rm ").Append(name).Append('\n');
        }
        var commands = Path.Combine(workDir, "debugfs.cmd");
        await File.WriteAllTextAsync(commands, script.ToString(), ct);
        await RunAsync("debugfs", ["-w", "-f", commands, image], ct);
        await RunAsync("e2fsck", ["-fn", image], ct);
        foreach (var (path, content) in write)
        {
            if (!(await ReadFileAsync(image, path, ct)).AsSpan().SequenceEqual(content))
            {
                throw new LabException($"debugfs did not write {path} into {image}");
            }
        }
        foreach (var path in remove)
        {
            var (dir, name) = Split(path);
            var listing = await RunAsync("debugfs", ["-R", $"ls -p {dir}", image], ct);
            if (listing.Split('\n').Any(l => l.Split('/').Contains(name)))
            {
                throw new LabException($"debugfs did not remove {path} from {image}");
            }
        }
    }

    /// <summary>A file's bytes read out of an ext4 filesystem image (or a volume holding one) with debugfs.</summary>
    public static async Task<byte[]> ReadFileAsync(string image, string path, CancellationToken ct)
    {
        var output = Path.GetTempFileName();
        try
        {
            await RunAsync("debugfs", ["-R", $"dump {path} {output}", image], ct);
            return await File.ReadAllBytesAsync(output, ct);
        }
        finally
        {
            File.Delete(output);
        }
    }

    /// <summary>The ranges that hold data (qemu-img map): what a full copy of a thin disk reads.</summary>
    public static async Task<IReadOnlyList<LabExtent>> DataExtentsAsync(string image, CancellationToken ct)
    {
        var json = await RunAsync("qemu-img", ["map", "--output=json", "-f", "raw", image], ct);
        using var doc = JsonDocument.Parse(json);
        return Merge(doc.RootElement.EnumerateArray()
            .Where(e => e.GetProperty("data").GetBoolean())
            .Select(e => new LabExtent(e.GetProperty("start").GetInt64(), e.GetProperty("length").GetInt64())));
    }

    /// <summary>A sparse copy of the image, the "before" state for <see cref="ChangedExtents"/>.</summary>
    public static async Task CopyAsync(string image, string copy, CancellationToken ct)
    {
        File.Delete(copy);
        await RunAsync("cp", ["--sparse=always", image, copy], ct);
    }

    /// <summary>The 64 KiB blocks that differ between two states of an image, merged into ranges.</summary>
    public static IReadOnlyList<LabExtent> ChangedExtents(string before, string after)
    {
        using var a = new FileStream(before, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        using var b = new FileStream(after, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 1 << 20);
        if (a.Length != b.Length)
        {
            throw new LabException($"{before} and {after} differ in size");
        }
        var bufferA = new byte[ChangeBlock];
        var bufferB = new byte[ChangeBlock];
        var changed = new List<LabExtent>();
        for (long offset = 0; offset < a.Length; offset += ChangeBlock)
        {
            var length = (int)Math.Min(ChangeBlock, a.Length - offset);
            a.ReadExactly(bufferA, 0, length);
            b.ReadExactly(bufferB, 0, length);
            if (!bufferA.AsSpan(0, length).SequenceEqual(bufferB.AsSpan(0, length)))
            {
                changed.Add(new LabExtent(offset, length));
            }
        }
        return Merge(changed);
    }

    /// <summary>
    /// qemu-img compare of a source image with a target volume file: equal bytes over the image, and
    /// only zeros beyond it (the volume is as large as the VM's disk; the image holds its used part).
    /// </summary>
    public static async Task<string?> CompareAsync(string image, string target, CancellationToken ct)
    {
        await using var run = await ExternalProcess.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", image, target], ToolTimeout, ct: ct);
        return run.ExitCode == 0 ? null : (run.StandardOutput + run.StandardError).Trim();
    }

    public static long Sum(IEnumerable<LabExtent> extents) => extents.Sum(e => e.Length);

    private static IReadOnlyList<LabExtent> Merge(IEnumerable<LabExtent> extents)
    {
        var merged = new List<LabExtent>();
        foreach (var e in extents.OrderBy(e => e.Start))
        {
            if (merged.Count > 0 && merged[^1].End >= e.Start)
            {
                var last = merged[^1];
                merged[^1] = new LabExtent(last.Start, Math.Max(last.End, e.End) - last.Start);
            }
            else
            {
                merged.Add(e);
            }
        }
        return merged;
    }

    private static void CreateSparse(string image, long size)
    {
        using var file = new FileStream(image, FileMode.Create, FileAccess.Write);
        file.SetLength(size);
    }

    private static (string Dir, string Name) Split(string path)
    {
        var slash = path.LastIndexOf('/');
        return slash <= 0 ? ("/", path.TrimStart('/')) : (path[..slash], path[(slash + 1)..]);
    }

    private static async Task<string> RunAsync(string tool, string[] arguments, CancellationToken ct)
    {
        await using var run = await ExternalProcess.RunAsync(tool, arguments, ToolTimeout, ct: ct);
        if (run.ExitCode != 0)
        {
            throw new LabException($"{tool} failed: {run}");
        }
        return run.StandardOutput;
    }
}
