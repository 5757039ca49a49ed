using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Failover;

/// <summary>Infrastructure logging of the Failover module; what a failover does goes to the job log.</summary>
internal static partial class FailoverLog
{
    [LoggerMessage(EventId = 901, EventName = "FailoverRunCrashed", Level = LogLevel.Error,
        Message = "Failover worker: failover {FailoverId} ended unexpectedly")]
    public static partial void RunCrashed(ILogger logger, Guid failoverId, Exception ex);

    [LoggerMessage(EventId = 902, EventName = "FailoverFailed", Level = LogLevel.Warning,
        Message = "Failover {FailoverId} failed: {Reason}")]
    public static partial void Failed(ILogger logger, Guid failoverId, string reason);

    [LoggerMessage(EventId = 903, EventName = "FailoverInterrupted", Level = LogLevel.Warning,
        Message = "Failover {FailoverId} was running when the OMA stopped; rolling it back")]
    public static partial void Interrupted(ILogger logger, Guid failoverId);
}
