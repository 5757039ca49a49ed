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

/// <summary>How a run ended.</summary>
internal sealed record RunOutcome(RunOutcomeKind Kind, string? Error = null)
{
    public static readonly RunOutcome Completed = new(RunOutcomeKind.Completed);
    public static readonly RunOutcome NotClaimed = new(RunOutcomeKind.NotClaimed);
    public static readonly RunOutcome Stopped = new(RunOutcomeKind.Stopped);
    public static readonly RunOutcome Cancelled = new(RunOutcomeKind.Cancelled);
}

internal enum RunOutcomeKind
{
    Completed,
    Failed,
    /// <summary>An operator cancelled the job.</summary>
    Cancelled,
    /// <summary>The OMA is stopping: the job stays 'replicating' for the next start.</summary>
    Stopped,
    /// <summary>The job was not in the expected state (someone else changed it, or it is held).</summary>
    NotClaimed,
}

/// <summary>
/// The one place runs start: the worker (schedule, requests, resumes) and a final sync for a
/// failover both go through it, so one job never has two runs in this process.
/// </summary>
internal sealed class ReplicationRunner(
    IServiceScopeFactory scopes,
    ReplicationStore store,
    IAgentChannel channel,
    ReplicationOptions options,
    TimeProvider time,
    IHostApplicationLifetime lifetime,
    ILogger<ReplicationRunner> logger)
{
    private readonly Lock _lock = new();
    private readonly Dictionary<Guid, Task<RunOutcome>> _running = [];

    public int RunningCount
    {
        get
        {
            lock (_lock)
            {
                return _running.Values.Count(t => !t.IsCompleted);
            }
        }
    }

    public bool IsRunning(Guid id)
    {
        lock (_lock)
        {
            return _running.TryGetValue(id, out var t) && !t.IsCompleted;
        }
    }

    /// <summary>The run of <paramref name="id"/> in this process, if one is under way.</summary>
    public Task<RunOutcome>? Current(Guid id)
    {
        lock (_lock)
        {
            return _running.TryGetValue(id, out var t) && !t.IsCompleted ? t : null;
        }
    }

    /// <summary>
    /// Starts a run unless one is under way; <paramref name="holder"/> lets a held job run (the
    /// holder's final sync). Null when a run was already under way.
    /// </summary>
    public Task<RunOutcome>? TryStart(Guid id, string? holder, CancellationToken stopping)
    {
        lock (_lock)
        {
            if (_running.TryGetValue(id, out var existing) && !existing.IsCompleted)
            {
                return null;
            }
            foreach (var done in _running.Where(r => r.Value.IsCompleted).Select(r => r.Key).ToList())
            {
                _running.Remove(done);
            }
            var task = Task.Run(() => RunOneAsync(id, holder, stopping), CancellationToken.None);
            _running[id] = task;
            return task;
        }
    }

    /// <summary>Waits for every run under way (they see the stopping token and stop where they are).</summary>
    public Task WhenAllAsync()
    {
        lock (_lock)
        {
            return Task.WhenAll(_running.Values);
        }
    }

    public CancellationToken ApplicationStopping => lifetime.ApplicationStopping;

    private async Task<RunOutcome> RunOneAsync(Guid id, string? holder, CancellationToken stopping)
    {
        try
        {
            return await RunAsync(id, holder, stopping);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            return RunOutcome.Stopped;
        }
        catch (Exception ex)
        {
            ReplicationLog.RunCrashed(logger, id, ex);
            return new RunOutcome(RunOutcomeKind.Failed, ex.Message);
        }
    }

    private async Task<RunOutcome> RunAsync(Guid id, string? holder, CancellationToken stopping)
    {
        if (await store.GetJobAsync(id, stopping) is not { } job)
        {
            return RunOutcome.NotClaimed;
        }
        var runStartedAt = time.GetUtcNow().UtcDateTime;
        if (!await store.ClaimAsync(id, job.Status, holder, runStartedAt, stopping))
        {
            return RunOutcome.NotClaimed;
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
            return RunOutcome.Completed;
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
            // Left 'replicating' on purpose: the next OMA start resumes it from its checkpoints.
            return RunOutcome.Stopped;
        }
        catch (OperationCanceledException) when (operatorCancel.IsCancellationRequested)
        {
            // Cancelled by an operator: the job is already 'cancelled'.
            return RunOutcome.Cancelled;
        }
        catch (Exception ex)
        {
            // The job log holds the failed step and its error; the job row says why for the API.
            ReplicationLog.RunFailed(logger, id, ex.Message);
            await store.FailRunAsync(id, ex.Message, runStartedAt, time.GetUtcNow().UtcDateTime, CancellationToken.None);
            return new RunOutcome(RunOutcomeKind.Failed, ex.Message);
        }
    }
}
