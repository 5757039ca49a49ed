using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Cleanup;

/// <summary>Infrastructure logging of the Cleanup module; what a cleanup does goes to the job log.</summary>
internal static partial class CleanupLog
{
    [LoggerMessage(EventId = 1001, EventName = "CleanupCrashed", Level = LogLevel.Error,
        Message = "Cleanup worker: the cleanup of failover {FailoverId} ended unexpectedly")]
    public static partial void Crashed(ILogger logger, Guid failoverId, Exception ex);

    [LoggerMessage(EventId = 1002, EventName = "CleanupFailed", Level = LogLevel.Warning,
        Message = "Cleanup of failover {FailoverId} failed: {Reason}")]
    public static partial void Failed(ILogger logger, Guid failoverId, string reason);
}
