using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.Support;

/// <summary>Sparse raw images with random data where the test says, and holes elsewhere.</summary>
internal static class TestImages
{
    public static string Create(string directory, string name, long size, IEnumerable<(long Offset, long Length)> data)
    {
        var path = Path.Combine(directory, name);
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(size);
        file.Flush();
        Fill(path, data);
        return path;
    }

    /// <summary>Writes fresh random bytes over the given ranges.</summary>
    public static void Fill(string path, IEnumerable<(long Offset, long Length)> data)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        foreach (var (offset, length) in data)
        {
            var bytes = new byte[length];
            Random.Shared.NextBytes(bytes);
            file.Position = offset;
            file.Write(bytes);
        }
    }

    /// <summary>Writes explicit zeroes (allocated, all-zero data: it must still reach the target as zeroes).</summary>
    public static void Zero(string path, long offset, long length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
        file.Position = offset;
        file.Write(new byte[length]);
    }

    /// <summary>qemu-img compare: exit 0 when the contents are equal (a larger target must be zero past the source's end).</summary>
    public static async Task AssertSameAsync(string source, string target)
    {
        await using var run = await ExternalProcess.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", source, target], TimeSpan.FromSeconds(60));
        Assert.That(run.ExitCode, Is.Zero, $"qemu-img compare {source} {target}: {run.StandardOutput}{run.StandardError}");
    }
}
