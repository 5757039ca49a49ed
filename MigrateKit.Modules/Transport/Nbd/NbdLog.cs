using System.Net;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Transport.Nbd;

internal static partial class NbdLog
{
    [LoggerMessage(EventId = 3000, EventName = "NbdListening", Level = LogLevel.Information,
        Message = "NBD server listening on {EndPoint}")]
    public static partial void Listening(ILogger logger, EndPoint endPoint);

    [LoggerMessage(EventId = 3001, EventName = "NbdConnectionOpened", Level = LogLevel.Debug,
        Message = "NBD connection {ConnectionId} opened from {Remote}")]
    public static partial void ConnectionOpened(ILogger logger, long connectionId, string remote);

    [LoggerMessage(EventId = 3002, EventName = "NbdConnectionClosed", Level = LogLevel.Debug,
        Message = "NBD connection {ConnectionId} closed")]
    public static partial void ConnectionClosed(ILogger logger, long connectionId);

    [LoggerMessage(EventId = 3003, EventName = "NbdProtocolError", Level = LogLevel.Warning,
        Message = "NBD connection {ConnectionId} dropped: {Reason}")]
    public static partial void ProtocolError(ILogger logger, long connectionId, string reason);

    [LoggerMessage(EventId = 3004, EventName = "NbdExportNegotiated", Level = LogLevel.Information,
        Message = "NBD connection {ConnectionId} serves export '{Export}' ({Size} bytes, structured replies {Structured})")]
    public static partial void ExportNegotiated(ILogger logger, long connectionId, string export, long size, bool structured);

    [LoggerMessage(EventId = 3005, EventName = "NbdExportRefused", Level = LogLevel.Warning,
        Message = "NBD connection {ConnectionId} asked for export '{Export}': {Reason}")]
    public static partial void ExportRefused(ILogger logger, long connectionId, string export, string reason);

    [LoggerMessage(EventId = 3006, EventName = "NbdOptionUnsupported", Level = LogLevel.Debug,
        Message = "NBD connection {ConnectionId} sent unsupported option {Option}")]
    public static partial void OptionUnsupported(ILogger logger, long connectionId, string option);

    [LoggerMessage(EventId = 3007, EventName = "NbdRequestFailed", Level = LogLevel.Warning,
        Message = "NBD connection {ConnectionId}: {Command} at {Offset} length {Length} failed with {Error}")]
    public static partial void RequestFailed(ILogger logger, long connectionId, string command, ulong offset, uint length, NbdError error, Exception? exception);

    [LoggerMessage(EventId = 3008, EventName = "NbdConnectionFailed", Level = LogLevel.Error,
        Message = "NBD connection {ConnectionId} failed unexpectedly")]
    public static partial void ConnectionFailed(ILogger logger, long connectionId, Exception exception);

    [LoggerMessage(EventId = 3009, EventName = "NbdConnectionLost", Level = LogLevel.Debug,
        Message = "NBD connection {ConnectionId} lost: {Reason}")]
    public static partial void ConnectionLost(ILogger logger, long connectionId, string reason);

    [LoggerMessage(EventId = 3010, EventName = "NbdAcceptFailed", Level = LogLevel.Warning,
        Message = "NBD server accept failed")]
    public static partial void AcceptFailed(ILogger logger, Exception exception);
}
