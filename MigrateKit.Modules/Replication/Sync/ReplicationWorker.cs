using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Core.Work;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>
/// Starts replication syncs: pending jobs, idle jobs that were asked to sync or whose schedule is
/// due, and jobs left 'replicating' by a previous OMA process (they resume from their saved
/// snapshot, VMA sync and checkpoints). Held jobs start nothing. At most
/// Replication:MaxConcurrentJobs at once, one run per job (the <see cref="ReplicationRunner"/> keeps count).
/// </summary>
internal sealed class ReplicationWorker(
    ReplicationRunner runner,
    ReplicationStore store,
    ReplicationOptions options,
    TimeProvider time,
    ILogger<ReplicationWorker> logger) : ScanningWorker(signal: null, time, logger)
{
    protected override TimeSpan ScanInterval => options.ScanInterval;

    // Runs see the host's stopping token: they stop where they are and stay 'replicating' for the next start.
    protected override Task WhenOtherRunsEndAsync() => runner.WhenAllAsync();

    protected override async Task ScanAsync(CancellationToken ct)
    {
        if (runner.RunningCount >= options.MaxConcurrentJobs)
        {
            return;
        }
        foreach (var id in await store.DueJobsAsync(Time.GetUtcNow().UtcDateTime, ct))
        {
            if (runner.RunningCount >= options.MaxConcurrentJobs)
            {
                break;
            }
            _ = runner.TryStart(id, holder: null, ct); // the runner tracks it; the scan does not wait
        }
    }
}
