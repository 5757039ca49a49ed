using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>Configuration section "Replication".</summary>
internal sealed class ReplicationOptions
{
    /// <summary>Jobs syncing at once (each job's disks copy in parallel on its VMA).</summary>
    public int MaxConcurrentJobs { get; set; } = 4;

    /// <summary>How long an agent may stay unreachable during a run before the run fails (volumes stay).</summary>
    public TimeSpan AgentTimeout { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>Pause between attempts to reach an unreachable agent.</summary>
    public TimeSpan AgentRetryDelay { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>One VMA API request; a slower answer counts as the agent being unreachable.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a running sync's progress is read and persisted.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How often the worker looks for jobs that need a sync.</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>VMA syncs that failed or vanished are restarted from their checkpoints this many times per run.</summary>
    public int MaxSyncRestarts { get; set; } = 5;

    /// <summary>How long a final sync's source shutdown waits for the guest before the VMA powers the VM off.</summary>
    public TimeSpan ShutdownGrace { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>Verification: one SHA-256 per chunk of at most this many bytes (a mismatch is recopied at this granularity).</summary>
    public int VerifyChunkBytes { get; set; } = 4 << 20;

    /// <summary>Verification: bytes one VMA hash request covers (the next request continues where it stopped).</summary>
    public long VerifyPageBytes { get; set; } = 1L << 30;

    /// <summary>Verification: how long one VMA hash request may take (it reads up to VerifyPageBytes from the snapshot).</summary>
    public TimeSpan VerifyRequestTimeout { get; set; } = TimeSpan.FromMinutes(10);

    public static ReplicationOptions From(IConfiguration configuration)
    {
        var options = new ReplicationOptions();
        configuration.GetSection("Replication").Bind(options);
        if (options.MaxConcurrentJobs < 1 || options.MaxConcurrentJobs > 256)
        {
            throw new InvalidOperationException("Replication:MaxConcurrentJobs must be between 1 and 256.");
        }
        if (options.AgentTimeout <= TimeSpan.Zero || options.PollInterval <= TimeSpan.Zero || options.ScanInterval <= TimeSpan.Zero
            || options.AgentRetryDelay <= TimeSpan.Zero || options.RequestTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Replication: AgentTimeout, AgentRetryDelay, RequestTimeout, PollInterval and ScanInterval must be positive.");
        }
        if (options.ShutdownGrace < TimeSpan.Zero || options.ShutdownGrace > TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException("Replication:ShutdownGrace must be between 00:00:00 and 01:00:00.");
        }
        if (options.VerifyChunkBytes < 64 << 10 || options.VerifyChunkBytes > 256 << 20)
        {
            throw new InvalidOperationException("Replication:VerifyChunkBytes must be between 65536 and 268435456.");
        }
        if (options.VerifyPageBytes < options.VerifyChunkBytes || options.VerifyPageBytes > 64L << 30 || options.VerifyRequestTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Replication:VerifyPageBytes must be between VerifyChunkBytes and 64 GiB, and VerifyRequestTimeout positive.");
        }
        if (options.MaxSyncRestarts < 0)
        {
            throw new InvalidOperationException("Replication:MaxSyncRestarts must not be negative.");
        }
        return options;
    }
}
