using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Core.Work;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Failover.Run;
using MigrateKit.Modules.Replication.Contracts;

namespace MigrateKit.Modules.Failover.Workers;

/// <summary>
/// Runs stored failovers in the background: pending ones, and those a previous OMA process left
/// running (it stopped mid-way): a live failover whose replication already ended is completed,
/// every other one is rolled back with the reason, so nothing stays half-done. One OMA process per
/// database is the supported setup (as for the job log's interrupted-job sweep).
/// </summary>
internal sealed class FailoverWorker(
    IServiceScopeFactory scopes,
    FailoverStore store,
    FailoverSignal signal,
    FailoverOptions options,
    TimeProvider time,
    ILogger<FailoverWorker> logger) : ScanningWorker(signal, time, logger)
{
    public const string InterruptedReason = "interrupted: the OMA stopped while this failover ran";

    protected override TimeSpan ScanInterval => options.ScanInterval;

    // Runs see the host's stopping token: they stop where they are and stay 'running'; the next start rolls them back.
    protected override async Task ScanAsync(CancellationToken ct)
    {
        foreach (var id in await store.WorkAsync(ct))
        {
            if (RunningCount >= options.MaxConcurrent)
            {
                break;
            }
            TryStart(id, () => RunOneAsync(id, ct));
        }
    }

    private async Task RunOneAsync(Guid id, CancellationToken stopping)
    {
        try
        {
            if (await store.GetAsync(id, stopping) is not { } row)
            {
                return;
            }
            if (row.Status == FailoverStatuses.Pending)
            {
                await RunAsync(row, stopping);
            }
            else if (row.Status == FailoverStatuses.Running)
            {
                await RecoverAsync(row, stopping);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The OMA is stopping; the failover stays 'running' and is rolled back at the next start.
        }
        catch (FailoverException ex)
        {
            FailoverLog.Failed(Logger, id, ex.Message);
        }
        catch (Exception ex)
        {
            FailoverLog.RunCrashed(Logger, id, ex);
        }
    }

    private static JobStart Describe(FailoverRow row, string kind, string what) => new($"failover.{kind}", what, "failover")
    {
        EntityType = "failover",
        EntityId = row.Id.ToString(),
    };

    private async Task RunAsync(FailoverRow row, CancellationToken stopping)
    {
        if (!await store.ClaimAsync(row.Id, Time.GetUtcNow().UtcDateTime, stopping))
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var tracker = services.GetRequiredService<IJobTracker>();
        var start = Describe(row, row.JobType, $"{row.JobType} failover of VM {row.VmId}");
        await tracker.RunJobAsync(start, async (job, ct) =>
        {
            var run = new FailoverRun(row, job, store, services.GetRequiredService<IMediator>(), services.GetRequiredService<FailoverPlanner>(),
                services.GetRequiredService<VirtioInjector>(), services.GetRequiredService<FailoverUndo>(), Time);
            await run.ExecuteAsync(ct);
            return true;
        }, stopping);
    }

    private async Task RecoverAsync(FailoverRow row, CancellationToken stopping)
    {
        FailoverLog.Interrupted(Logger, row.Id);
        await using var scope = scopes.CreateAsyncScope();
        var services = scope.ServiceProvider;
        var mediator = services.GetRequiredService<IMediator>();
        var tracker = services.GetRequiredService<IJobTracker>();
        var start = Describe(row, "recover", $"recover {row.JobType} failover of VM {row.VmId} after an OMA restart");
        await tracker.RunJobAsync(start, async (job, ct) =>
        {
            var step = FailoverSteps.Label(row.CurrentStep) ?? "none";
            await job.WarnAsync($"{InterruptedReason} (at step '{step}')", ct);
            var replication = await mediator.Send(new GetReplicationQuery(row.ReplicationJobId), ct);
            if (row.JobType == FailoverTypes.Live && replication?.Status == ReplicationStatuses.FailedOver)
            {
                // It stopped after its last step: the VM runs and the replication ended.
                await store.EndAsync(row.Id, FailoverStatuses.Running, FailoverStatuses.Completed, null, Time.GetUtcNow().UtcDateTime, CancellationToken.None);
                await job.InfoAsync("the replication had already ended: the live failover is complete", ct);
                return true;
            }
            var outcome = await services.GetRequiredService<FailoverUndo>().RollBackAsync(row.Id, row.CurrentStep, job, ct);
            var message = $"{InterruptedReason} at step '{step}'. {outcome.Describe()}";
            await store.EndAsync(row.Id, FailoverStatuses.Running, outcome.Succeeded ? FailoverStatuses.Failed : FailoverStatuses.RollbackFailed,
                message, Time.GetUtcNow().UtcDateTime, CancellationToken.None);
            if (!outcome.Succeeded)
            {
                throw new FailoverException(message);
            }
            return true;
        }, stopping);
    }
}
