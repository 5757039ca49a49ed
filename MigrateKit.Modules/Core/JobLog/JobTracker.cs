using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Core.JobLog;

internal sealed class JobTracker(JobStore store, TimeProvider time) : IJobTracker
{
    private static readonly AsyncLocal<JobScope?> Ambient = new();

    public IJobScope? Current => Ambient.Value;

    public async Task<T> RunJobAsync<T>(JobStart start, Func<IJobScope, CancellationToken, Task<T>> body, CancellationToken ct)
    {
        var scope = await StartCoreAsync(start, ct);
        // Set inside this async method: the body sees it, and it is restored when we return.
        Ambient.Value = scope;
        try
        {
            var result = await body(scope, ct);
            await scope.EndAsync(null, CancellationToken.None);
            return result;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            await scope.EndAsync("cancelled", CancellationToken.None, cancelled: true);
            throw;
        }
        catch (Exception ex)
        {
            await scope.EndAsync(scope.DescribeFailure(ex), CancellationToken.None);
            throw;
        }
    }

    public async Task<IJobScope> StartJobAsync(JobStart start, CancellationToken ct) => await StartCoreAsync(start, ct);

    private async Task<JobScope> StartCoreAsync(JobStart start, CancellationToken ct)
    {
        var parent = Ambient.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var row = new JobRow
        {
            Id = Guid.NewGuid(),
            ParentJobId = start.ParentJobId ?? parent?.JobId,
            CorrelationId = start.CorrelationId ?? parent?.CorrelationId ?? Guid.NewGuid(),
            JobType = start.JobType,
            Operation = start.Operation,
            Owner = start.Owner,
            EntityType = start.EntityType,
            EntityId = start.EntityId,
            StartedAt = now,
        };
        await store.InsertJobAsync(row, ct);
        return new JobScope(store, time, row.Id, row.CorrelationId, row.ParentJobId);
    }
}

internal sealed class JobScope(JobStore store, TimeProvider time, Guid jobId, Guid correlationId, Guid? parentJobId) : IJobScope
{
    // Flows into child jobs started inside a step, so it names its job: a step belongs to one job only.
    private static readonly AsyncLocal<(Guid JobId, long StepId)?> CurrentStep = new();
    private readonly long _startedTimestamp = time.GetTimestamp();
    private int _stepSeq;
    private int _ended;
    private (string Name, Exception Error)? _failedStep;

    public Guid JobId => jobId;
    public Guid CorrelationId => correlationId;
    public Guid? ParentJobId => parentJobId;

    public async Task<T> RunStepAsync<T>(string name, Func<CancellationToken, Task<T>> step, CancellationToken ct)
    {
        var seq = Interlocked.Increment(ref _stepSeq);
        var started = time.GetTimestamp();
        var stepId = await store.InsertStepAsync(jobId, seq, name, time.GetUtcNow().UtcDateTime, ct);
        CurrentStep.Value = (jobId, stepId);
        try
        {
            var result = await step(ct);
            await store.EndStepAsync(stepId, "completed", null, time.GetUtcNow().UtcDateTime, Elapsed(started), CancellationToken.None);
            return result;
        }
        catch (Exception ex)
        {
            var cancelled = ex is OperationCanceledException && ct.IsCancellationRequested;
            var message = cancelled ? "cancelled" : ex.Message;
            _failedStep ??= (name, ex);
            await store.EndStepAsync(stepId, "failed", message, time.GetUtcNow().UtcDateTime, Elapsed(started), CancellationToken.None);
            throw;
        }
    }

    public Task RunStepAsync(string name, Func<CancellationToken, Task> step, CancellationToken ct) =>
        RunStepAsync<bool>(name, async c => { await step(c); return true; }, ct);

    public Task LogAsync(JobLogLevel level, string message, CancellationToken ct) =>
        store.InsertLogAsync(jobId, CurrentStep.Value is { } step && step.JobId == jobId ? step.StepId : null, level, message,
            time.GetUtcNow().UtcDateTime, ct);

    public async Task EndAsync(string? error, CancellationToken ct, bool cancelled = false)
    {
        if (Interlocked.Exchange(ref _ended, 1) == 1)
        {
            return;
        }
        var status = cancelled ? JobStatuses.Cancelled : error is null ? JobStatuses.Completed : JobStatuses.Failed;
        await store.EndJobAsync(jobId, status, error, time.GetUtcNow().UtcDateTime, Elapsed(_startedTimestamp), ct);
    }

    /// <summary>The job's error names the step that failed, so the job list alone says where it broke.</summary>
    internal string DescribeFailure(Exception ex) =>
        _failedStep is { } failed && ReferenceEquals(failed.Error, ex)
            ? $"step '{failed.Name}' failed: {ex.Message}"
            : ex.Message;

    private long Elapsed(long startedTimestamp) => (long)time.GetElapsedTime(startedTimestamp).TotalMilliseconds;
}
