namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>
/// A scratch directory removed on dispose. Prefers /dev/shm (tmpfs: fast, and it supports
/// SEEK_DATA/SEEK_HOLE and hole punching, which sparse-file tests rely on).
/// </summary>
internal sealed class NbdScratch : IDisposable
{
    public NbdScratch(string prefix = "mk-test")
    {
        var root = Directory.Exists("/dev/shm") ? "/dev/shm" : System.IO.Path.GetTempPath();
        Path = System.IO.Path.Combine(root, $"{prefix}-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
