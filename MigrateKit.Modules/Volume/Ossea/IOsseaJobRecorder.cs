namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// Receives every OSSEA async job the client starts and how it ended (the Volume module persists
/// them to <c>cloudstack_job_tracking</c>). Required: the client cannot be built without one.
/// </summary>
/// <remarks>
/// A recorder failure is logged and does not abort the OSSEA operation: the job is already running
/// in the cloud, and abandoning it would lose the id of what it creates.
/// </remarks>
internal interface IOsseaJobRecorder
{
    Task JobStartedAsync(OsseaJobStarted job, CancellationToken cancellationToken);

    Task JobFinishedAsync(OsseaJobFinished job, CancellationToken cancellationToken);
}

/// <summary>Who asked for an OSSEA operation: carried into the job records.</summary>
/// <param name="OperationType">What the caller is doing, e.g. <c>create_volume</c>, <c>attach_volume</c>, <c>failover_deploy</c>.</param>
/// <param name="CorrelationId">The caller's correlation id (the job log's).</param>
/// <param name="ParentJobId">The job-log job that triggered this operation.</param>
internal sealed record OsseaOperation(string OperationType, Guid? CorrelationId = null, Guid? ParentJobId = null)
{
    public string OperationType { get; init; } = !string.IsNullOrWhiteSpace(OperationType)
        ? OperationType
        : throw new ArgumentException("An operation type is required.", nameof(OperationType));
}

/// <param name="EntityId">For async-create commands the new entity's id (known before the job ends).</param>
internal sealed record OsseaJobStarted(
    string JobId,
    string Command,
    OsseaOperation Operation,
    string? EntityId,
    DateTimeOffset StartedAt);

internal enum OsseaJobOutcome
{
    Completed,
    Failed,
    /// <summary>The client stopped waiting; the job may still finish on OSSEA.</summary>
    TimedOut,
}

/// <param name="CloudStackStatus">The last <c>jobstatus</c> seen (0 in progress, 1 succeeded, 2 failed).</param>
/// <param name="ResultJson">The <c>jobresult</c> with any <c>password</c> fields removed.</param>
internal sealed record OsseaJobFinished(
    string JobId,
    string Command,
    OsseaOperation Operation,
    OsseaJobOutcome Outcome,
    int CloudStackStatus,
    int? ErrorCode,
    string? ErrorText,
    string? ResultJson,
    DateTimeOffset FinishedAt);
