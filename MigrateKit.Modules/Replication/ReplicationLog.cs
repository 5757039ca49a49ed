using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Replication;

/// <summary>Infrastructure logging of the Replication module; what a run does goes to the job log.</summary>
internal static partial class ReplicationLog
{
    [LoggerMessage(EventId = 801, EventName = "ReplicationRunCrashed", Level = LogLevel.Error,
        Message = "Replication worker: the run of job {JobId} ended unexpectedly")]
    public static partial void RunCrashed(ILogger logger, Guid jobId, Exception ex);

    [LoggerMessage(EventId = 802, EventName = "ReplicationRunFailed", Level = LogLevel.Warning,
        Message = "Replication job {JobId} failed: {Reason}")]
    public static partial void RunFailed(ILogger logger, Guid jobId, string reason);
}
