using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Core.Work;
using MigrateKit.Modules.Failover.Contracts;

namespace MigrateKit.Modules.Cleanup.Workers;

/// <summary>
/// Runs requested cleanups (failovers in cleaning_up) in the background, each as one job whose
/// steps the Failover module's undo runs. A cleanup a previous OMA process left half-done is simply
/// run again at start-up: every step does only what is left.
/// </summary>
internal sealed class CleanupWorker(
    IServiceScopeFactory scopes,
    CleanupSignal signal,
    CleanupOptions options,
    TimeProvider time,
    ILogger<CleanupWorker> logger) : ScanningWorker(signal, time, logger)
{
    protected override TimeSpan ScanInterval => options.ScanInterval;

    protected override async Task ScanAsync(CancellationToken ct)
    {
        IReadOnlyList<FailoverView> waiting;
        await using (var scope = scopes.CreateAsyncScope())
        {
            waiting = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ListFailoversQuery(FailoverStatuses.CleaningUp), ct);
        }
        foreach (var failover in waiting)
        {
            TryStart(failover.Id, () => RunOneAsync(failover, ct));
        }
    }

    private async Task RunOneAsync(FailoverView failover, CancellationToken stopping)
    {
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            var tracker = scope.ServiceProvider.GetRequiredService<IJobTracker>();
            var start = new JobStart("failover.cleanup", $"clean up {failover.JobType} failover of VM {failover.SourceVmId}", "cleanup")
            {
                EntityType = "failover",
                EntityId = failover.Id.ToString(),
            };
            try
            {
                await tracker.RunJobAsync(start, async (job, ct) =>
                {
                    // The Failover module undoes it (the same undo as its rollback), as steps of this job.
                    await mediator.Send(new UndoFailoverCommand(failover.Id), ct);
                    await mediator.Send(new EndFailoverCleanupCommand(failover.Id, null), CancellationToken.None);
                    await job.InfoAsync($"failover {failover.Id} cleaned up", CancellationToken.None);
                    return true;
                }, stopping);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
            {
                var step = (await mediator.Send(new GetFailoverQuery(failover.Id), CancellationToken.None))?.CurrentStep;
                var reason = $"{(step is null ? "cleanup" : $"step '{step}'")} failed: {ex.Message.TrimEnd('.')}. Fix the cause and POST /api/v1/failovers/{failover.Id}/cleanup again; every step is safe to repeat";
                CleanupLog.Failed(Logger, failover.Id, reason);
                await mediator.Send(new EndFailoverCleanupCommand(failover.Id, reason), CancellationToken.None);
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // The OMA is stopping: the failover stays cleaning_up and the next start runs the cleanup again.
        }
        catch (Exception ex)
        {
            CleanupLog.Crashed(Logger, failover.Id, ex);
        }
    }
}
