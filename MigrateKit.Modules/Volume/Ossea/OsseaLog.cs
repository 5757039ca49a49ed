using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// Log messages of the OSSEA client. None of them carries the api key, the secret key, a signature
/// or a request URL: only the command name, codes, job ids and entity ids.
/// </summary>
internal static partial class OsseaLog
{
    [LoggerMessage(EventId = 4100, EventName = "OsseaRequestSending", Level = LogLevel.Debug,
        Message = "OSSEA {Command} {Method} attempt {Attempt}")]
    public static partial void RequestSending(ILogger logger, string command, string method, int attempt);

    [LoggerMessage(EventId = 4101, EventName = "OsseaRequestRetrying", Level = LogLevel.Warning,
        Message = "OSSEA {Command} attempt {Attempt} failed with {Code}: {Text}; retrying in {DelayMs} ms")]
    public static partial void RequestRetrying(ILogger logger, string command, int attempt, int code, string text, long delayMs);

    // Information, not Warning: many refusals are expected answers (431 for an unknown id, 431 for
    // an attached volume); the caller decides what they mean and records that in the job log.
    [LoggerMessage(EventId = 4102, EventName = "OsseaRequestFailed", Level = LogLevel.Information,
        Message = "OSSEA {Command} failed with {Code} (cserrorcode {CsErrorCode}, transient {Transient}, outcome unknown {OutcomeUnknown}): {Text}")]
    public static partial void RequestFailed(ILogger logger, string command, int code, int? csErrorCode, bool transient, bool outcomeUnknown, string text);

    [LoggerMessage(EventId = 4110, EventName = "OsseaJobStarted", Level = LogLevel.Information,
        Message = "OSSEA {Command} job {JobId} started ({OperationType}, correlation {CorrelationId}, entity {EntityId})")]
    public static partial void JobStarted(ILogger logger, string command, string jobId, string operationType, Guid? correlationId, string? entityId);

    [LoggerMessage(EventId = 4111, EventName = "OsseaJobCompleted", Level = LogLevel.Information,
        Message = "OSSEA {Command} job {JobId} completed after {ElapsedMs} ms")]
    public static partial void JobCompleted(ILogger logger, string command, string jobId, long elapsedMs);

    [LoggerMessage(EventId = 4112, EventName = "OsseaJobFailed", Level = LogLevel.Warning,
        Message = "OSSEA {Command} job {JobId} failed with {Code}: {Text}")]
    public static partial void JobFailed(ILogger logger, string command, string jobId, int code, string text);

    [LoggerMessage(EventId = 4113, EventName = "OsseaJobTimedOut", Level = LogLevel.Warning,
        Message = "OSSEA {Command} job {JobId} still running after {ElapsedMs} ms; gave up waiting")]
    public static partial void JobTimedOut(ILogger logger, string command, string jobId, long elapsedMs);

    [LoggerMessage(EventId = 4114, EventName = "OsseaJobRecorderFailed", Level = LogLevel.Error,
        Message = "Recording OSSEA {Command} job {JobId} failed; the OSSEA operation goes on")]
    public static partial void RecorderFailed(ILogger logger, Exception exception, string command, string jobId);

    [LoggerMessage(EventId = 4120, EventName = "OsseaCreateOutcomeUnknown", Level = LogLevel.Warning,
        Message = "OSSEA {Command} for '{Name}' got no usable answer; looking for what it may have created before trying again")]
    public static partial void CreateOutcomeUnknown(ILogger logger, string command, string name);

    [LoggerMessage(EventId = 4121, EventName = "OsseaCreateAdopted", Level = LogLevel.Warning,
        Message = "OSSEA {Command} for '{Name}' had already taken effect; using OSSEA's current state instead of sending it again")]
    public static partial void CreateAdopted(ILogger logger, string command, string name);
}
