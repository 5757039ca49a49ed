using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Vma;

internal static partial class VmaLog
{
    [LoggerMessage(EventId = 7200, EventName = "VmaSyncStarted", Level = LogLevel.Information,
        Message = "Sync {JobId} of {Vm} at {Snapshot} started: {Disks} disk(s), limit {Limit} B/s")]
    public static partial void SyncStarted(ILogger logger, string jobId, string vm, string snapshot, int disks, long limit);

    [LoggerMessage(EventId = 7201, EventName = "VmaSyncEnded", Level = LogLevel.Information,
        Message = "Sync {JobId} ended {State}: {Bytes} bytes in {Seconds:0.0} s")]
    public static partial void SyncEnded(ILogger logger, string jobId, string state, long bytes, double seconds);

    [LoggerMessage(EventId = 7202, EventName = "VmaDiskFailed", Level = LogLevel.Warning,
        Message = "Sync {JobId} disk {DeviceKey} ended {State}: {Reason}")]
    public static partial void DiskFailed(ILogger logger, string jobId, int deviceKey, string state, string reason);

    [LoggerMessage(EventId = 7203, EventName = "VmaTunnelDisabled", Level = LogLevel.Warning,
        Message = "No tunnel to the OMA: {Reason}")]
    public static partial void TunnelDisabled(ILogger logger, string reason);

    [LoggerMessage(EventId = 7204, EventName = "VmaTunnelStarted", Level = LogLevel.Information,
        Message = "Tunnel to the OMA {Host}:{Port} started ({Connections} connection(s))")]
    public static partial void TunnelStarted(ILogger logger, string host, int port, int connections);

    [LoggerMessage(EventId = 7205, EventName = "VmaApiBridgeFailed", Level = LogLevel.Debug,
        Message = "vma-api stream from the OMA ended with an error: {Reason}")]
    public static partial void ApiBridgeFailed(ILogger logger, string reason);

    [LoggerMessage(EventId = 7206, EventName = "VmaSourceMismatch", Level = LogLevel.Warning,
        Message = "Disk {DeviceKey}: the source has {SourceBytes} bytes, vCenter says {CapacityBytes}; copying the smaller")]
    public static partial void SourceSizeMismatch(ILogger logger, int deviceKey, long sourceBytes, long capacityBytes);
}
