using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Vma;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>
/// Runs replication syncs: pending jobs, idle jobs that were asked to sync or whose schedule is
/// due, and jobs left 'replicating' by a previous OMA process (they resume from their saved
/// snapshot, VMA sync and checkpoints). At most Replication:MaxConcurrentJobs at once, one run per job.
/// </summary>
internal sealed class ReplicationWorker(
    IServiceScopeFactory scopes,
    ReplicationStore store,
    IAgentChannel channel,
    ReplicationOptions options,
    TimeProvider time,
    ILogger<ReplicationWorker> logger) : BackgroundService
{
    private readonly Dictionary<Guid, Task> _running = [];

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await ScanAsync(stoppingToken);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                ReplicationLog.ScanFailed(logger, ex);
            }
            try
            {
                await Task.Delay(options.ScanInterval, time, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        // Runs see the same token: they stop where they are and stay 'replicating' for the next start.
        await Task.WhenAll(_running.Values).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    private async Task ScanAsync(CancellationToken ct)
    {
        foreach (var done in _running.Where(r => r.Value.IsCompleted).Select(r => r.Key).ToList())
        {
            _running.Remove(done);
        }
        if (_running.Count >= options.MaxConcurrentJobs)
        {
            return;
        }
        foreach (var id in await store.DueJobsAsync(time.GetUtcNow().UtcDateTime, ct))
        {
            if (_running.Count >= options.MaxConcurrentJobs)
            {
                break;
            }
            if (!_running.ContainsKey(id))
            {
                _running[id] = Task.Run(() => RunOneAsync(id, ct), CancellationToken.None);
            }
        }
    }

    private async Task RunOneAsync(Guid id, CancellationToken stopping)
    {
        try
        {
            await RunAsync(id, stopping);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !stopping.IsCancellationRequested)
        {
            ReplicationLog.RunCrashed(logger, id, ex);
        }
        catch (OperationCanceledException)
        {
            // The OMA is stopping.
        }
    }

    private async Task RunAsync(Guid id, CancellationToken stopping)
    {
        if (await store.GetJobAsync(id, stopping) is not { } job)
        {
            return;
        }
        var runStartedAt = time.GetUtcNow().UtcDateTime;
        if (!await store.ClaimAsync(id, job.Status, runStartedAt, stopping))
        {
            return;
        }
        await using var scope = scopes.CreateAsyncScope();
        var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
        var tracker = scope.ServiceProvider.GetRequiredService<IJobTracker>();
        using var operatorCancel = CancellationTokenSource.CreateLinkedTokenSource(stopping);
        var start = new JobStart("replication.sync", $"sync VM '{job.SourceVmName}'", "replication")
        {
            EntityType = "replication",
            EntityId = id.ToString(),
        };
        try
        {
            await tracker.RunJobAsync(start, async (jobScope, ct) =>
            {
                var agents = await mediator.Send(new ListAgentsQuery(), ct);
                var agent = agents.FirstOrDefault(a => a.Id == job.VmaAgentId)
                    ?? throw new ReplicationRunFailedException("the job's agent is no longer enrolled");
                if (agent.RevokedAt is not null)
                {
                    throw new ReplicationRunFailedException($"agent '{agent.Name}' is revoked");
                }
                using var vma = new VmaApiClient(channel, agent.Name, options.RequestTimeout);
                var run = new ReplicationRun(id, runStartedAt, jobScope, store, mediator, vma, options, time, operatorCancel);
                await run.ExecuteAsync(ct);
                return true;
            }, operatorCancel.Token);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Left 'replicating' on purpose: the next OMA start resumes it from its checkpoints.
        }
        catch (OperationCanceledException) when (operatorCancel.IsCancellationRequested)
        {
            // Cancelled by an operator: the job is already 'cancelled'.
        }
        catch (Exception ex)
        {
            // The job log holds the failed step and its error; the job row says why for the API.
            ReplicationLog.RunFailed(logger, id, ex.Message);
            await store.FailRunAsync(id, ex.Message, runStartedAt, time.GetUtcNow().UtcDateTime, CancellationToken.None);
        }
    }
}
