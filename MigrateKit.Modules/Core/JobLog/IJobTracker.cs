using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Core.JobLog;

/// <summary>
/// The job log: StartJob → RunStep → EndJob, persisted to MariaDB. Operation code records what it
/// does here, never in ad-hoc loggers (DESIGN rule 2).
/// </summary>
public interface IJobTracker
{
    /// <summary>The job the current async flow runs in, if any.</summary>
    IJobScope? Current { get; }

    /// <summary>
    /// Starts a job, runs <paramref name="body"/> with it as the ambient job, and ends it:
    /// completed when the body returns, failed (with the error) when it throws, cancelled when
    /// <paramref name="ct"/> is cancelled. The exception is rethrown.
    /// </summary>
    Task<T> RunJobAsync<T>(JobStart start, Func<IJobScope, CancellationToken, Task<T>> body, CancellationToken ct);

    /// <summary>
    /// Starts a job whose end is decided elsewhere (a background worker); the caller must call
    /// <see cref="IJobScope.EndAsync"/>. It is not made ambient.
    /// </summary>
    Task<IJobScope> StartJobAsync(JobStart start, CancellationToken ct);
}

public interface IJobScope
{
    Guid JobId { get; }
    Guid CorrelationId { get; }
    Guid? ParentJobId { get; }

    /// <summary>Runs one named step: persisted as running, then completed or failed with its error and duration.</summary>
    Task<T> RunStepAsync<T>(string name, Func<CancellationToken, Task<T>> step, CancellationToken ct);

    Task RunStepAsync(string name, Func<CancellationToken, Task> step, CancellationToken ct);

    /// <summary>Writes a log line to the job (and the running step, if any).</summary>
    Task LogAsync(JobLogLevel level, string message, CancellationToken ct);

    /// <summary>Ends the job; a null error means completed. Ending twice is a no-op.</summary>
    Task EndAsync(string? error, CancellationToken ct, bool cancelled = false);
}

public static class JobScopeExtensions
{
    public static Task InfoAsync(this IJobScope scope, string message, CancellationToken ct) =>
        scope.LogAsync(JobLogLevel.Info, message, ct);

    public static Task WarnAsync(this IJobScope scope, string message, CancellationToken ct) =>
        scope.LogAsync(JobLogLevel.Warning, message, ct);
}
