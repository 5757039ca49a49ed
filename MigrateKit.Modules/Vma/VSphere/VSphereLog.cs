using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Vma.VSphere;

internal static partial class VSphereLog
{
    [LoggerMessage(EventId = 7100, EventName = "VSphereLoggedIn", Level = LogLevel.Information,
        Message = "Logged in to vCenter {Host} as {User} (API {ApiVersion})")]
    public static partial void LoggedIn(ILogger logger, string host, string user, string apiVersion);

    [LoggerMessage(EventId = 7101, EventName = "VSphereSessionExpired", Level = LogLevel.Warning,
        Message = "vCenter session expired during {Method}; logging in again and retrying once")]
    public static partial void SessionExpired(ILogger logger, string method);

    [LoggerMessage(EventId = 7102, EventName = "VSphereLoggedOut", Level = LogLevel.Information,
        Message = "Logged out of vCenter {Host}")]
    public static partial void LoggedOut(ILogger logger, string host);

    [LoggerMessage(EventId = 7103, EventName = "VSphereGuestShutdownFallback", Level = LogLevel.Warning,
        Message = "Guest shutdown of {Vm} did not finish ({Reason}); powering off")]
    public static partial void GuestShutdownFallback(ILogger logger, string vm, string reason);

    [LoggerMessage(EventId = 7104, EventName = "VSphereKeepAliveFailed", Level = LogLevel.Warning,
        Message = "vCenter keep-alive failed: {Reason}")]
    public static partial void KeepAliveFailed(ILogger logger, string reason);
}
