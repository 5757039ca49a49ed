namespace MigrateKit.Modules.Vma;

/// <summary>Configuration section <c>Vma</c> (file /etc/migratekit/vma.json, env MIGRATEKIT_VMA_*).</summary>
internal sealed class VmaOptions
{
    public const string Section = "Vma";

    /// <summary>Loopback address of the local diagnostics API (the OMA reaches the same API through the tunnel).</summary>
    public string ApiListen { get; set; } = "127.0.0.1:8081";

    public OmaConnectionOptions Oma { get; set; } = new();

    /// <summary><c>vddk</c> (production: nbdkit's vddk plugin against vCenter) or <c>mapped</c> (labs and tests).</summary>
    public string DiskSource { get; set; } = "vddk";

    /// <summary>For <c>mapped</c>: which NBD URI or image file stands for which VM disk.</summary>
    public List<DiskMapping> DiskMappings { get; set; } = [];

    /// <summary>The nbdkit binary (Debian: /usr/sbin/nbdkit).</summary>
    public string Nbdkit { get; set; } = "nbdkit";

    /// <summary>VDDK library directory for nbdkit's vddk plugin (<c>libdir=</c>); empty: nbdkit's default.</summary>
    public string VddkLibDir { get; set; } = "";

    public StreamingOptions Streaming { get; set; } = new();
}

internal sealed class OmaConnectionOptions
{
    /// <summary>The OMA host the tunnel dials (port 443 by default). Empty: no tunnel (local diagnostics only).</summary>
    public string Host { get; set; } = "";

    public int Port { get; set; } = 443;

    /// <summary>Where enrollment stored agent.key, agent.crt and ca.crt.</summary>
    public string StateDirectory { get; set; } = "/var/lib/migratekit-vma";

    /// <summary>TLS connections the tunnel keeps open (streams are spread over them).</summary>
    public int Connections { get; set; } = 2;

    public TimeSpan ReconnectInitialDelay { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(60);
}

/// <summary>A lab mapping: VM (moref or name) + disk device key → an NBD URI or a local image file.</summary>
internal sealed class DiskMapping
{
    public string Vm { get; set; } = "";

    public int DeviceKey { get; set; }

    /// <summary><c>nbd://host:port/export</c>, <c>nbd+unix:///export?socket=/path</c>, or a file path.</summary>
    public string Source { get; set; } = "";
}

internal sealed class StreamingOptions
{
    /// <summary>
    /// Size of one read/write request (1-32 MiB). 2 MiB by default: VDDK through vCenter fails larger
    /// NFC reads ("Failed to allocate the requested … bytes", CDI); depth comes from ChunksInFlight.
    /// </summary>
    public int ChunkBytes { get; set; } = 2 * 1024 * 1024;

    /// <summary>Chunks in flight per disk; memory per disk is ChunkBytes × this (16 MiB by default).</summary>
    public int ChunksInFlight { get; set; } = 8;

    /// <summary>Disks of one sync copied at once.</summary>
    public int MaxParallelDisks { get; set; } = 4;

    /// <summary>The target is flushed and the checkpoint advanced at least this often…</summary>
    public TimeSpan CheckpointInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>…or after this many bytes.</summary>
    public long CheckpointBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>How long a disk waits for the tunnel to the OMA and its export before it fails (and can be resumed).</summary>
    public TimeSpan TargetConnectTimeout { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>Finished syncs kept for GET /progress.</summary>
    public int RetainedSyncs { get; set; } = 200;

    public void Validate()
    {
        if (ChunkBytes < 1024 * 1024 || ChunkBytes > 32 * 1024 * 1024 || ChunkBytes % 4096 != 0)
        {
            throw new ArgumentException("Vma:Streaming:ChunkBytes must be 1-32 MiB and a multiple of 4096");
        }
        if (ChunksInFlight is < 1 or > 64 || MaxParallelDisks is < 1 or > 64)
        {
            throw new ArgumentException("Vma:Streaming:ChunksInFlight and MaxParallelDisks must be 1-64");
        }
        if (TargetConnectTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("Vma:Streaming:TargetConnectTimeout must be positive");
        }
        if (CheckpointInterval <= TimeSpan.Zero || CheckpointBytes < ChunkBytes)
        {
            throw new ArgumentException("Vma:Streaming checkpoint interval must be positive and CheckpointBytes at least one chunk");
        }
    }
}
