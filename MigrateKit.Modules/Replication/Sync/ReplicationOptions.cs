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
        if (options.MaxSyncRestarts < 0)
        {
            throw new InvalidOperationException("Replication:MaxSyncRestarts must not be negative.");
        }
        return options;
    }
}
