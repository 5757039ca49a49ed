using System.Text.Json.Serialization;

namespace MigrateKit.Modules.VmaContracts;

/// <summary>
/// POST /api/v1/syncs: copy these disks of <see cref="Vm"/> as frozen in <see cref="SnapshotId"/>.
/// Nullable because the agent validates what it is sent and names the missing fields.
/// </summary>
/// <param name="Vm">Moref (<c>vm-42</c>) or inventory path (<c>/DC0/vm/web01</c>).</param>
/// <param name="SnapshotId">The snapshot moref value (<c>snapshot-77</c>) returned by POST …/snapshots.</param>
/// <param name="BandwidthLimitBytesPerSecond">For the whole sync; null or 0 = unlimited.</param>
public sealed record VmaSyncRequest(
    string? JobId, string? Vm, string? SnapshotId, IReadOnlyList<VmaSyncDisk>? Disks, long? BandwidthLimitBytesPerSecond);

/// <param name="ExportName">The OMA NBD export of the target volume.</param>
/// <param name="ChangeId"><c>*</c> for a full copy, otherwise the change id of the previous sync.</param>
/// <param name="StartOffset">Resume point: areas below it are skipped (the last checkpoint).</param>
/// <param name="ExtraRanges">Copied in addition to vCenter's areas (ranges a verification found different); may be absent.</param>
public sealed record VmaSyncDisk(
    int DeviceKey, string? ExportName, string? ChangeId, long StartOffset, IReadOnlyList<VmaByteRange>? ExtraRanges = null);

public sealed record VmaByteRange(long Offset, long Length);

/// <summary>202 answer to POST /api/v1/syncs.</summary>
public sealed record VmaSyncAccepted(string JobId, string State, string? ProgressUrl);

/// <summary>GET /api/v1/progress/{jobId}, POST /api/v1/syncs/{jobId}/cancel, GET /api/v1/syncs (a list).</summary>
public sealed record VmaSyncProgress(
    string JobId, string Vm, string SnapshotId, string State, DateTimeOffset StartedAt, DateTimeOffset? EndedAt,
    long BytesTotal, long BytesDone, double Percent, double RateBytesPerSecond, double? EtaSeconds,
    long? BandwidthLimitBytesPerSecond, string? Error, IReadOnlyList<VmaDiskProgress> Disks)
{
    /// <summary>Derived, not on the wire.</summary>
    [JsonIgnore]
    public bool IsFinal => VmaSyncStates.IsFinal(State);
}

/// <param name="BaseChangeId">The change id this sync is based on (<c>*</c> for a full copy).</param>
/// <param name="NewChangeId">The disk's change id in the snapshot: what the OMA stores when the disk completes.</param>
/// <param name="Checkpoint">Everything that had to be copied below this offset is flushed on the target.</param>
public sealed record VmaDiskProgress(
    int DeviceKey, string? ExportName, string State, string? BaseChangeId, string? NewChangeId, long CapacityBytes,
    long StartOffset, long BytesTotal, long BytesDone, long DataBytesSent, long ZeroBytesSent, int ExtentsTotal,
    int ExtentsDone, long WriteRequests, long ZeroRequests, double Percent, double RateBytesPerSecond, double? EtaSeconds,
    long Checkpoint, string? Error);

/// <summary>The states of a sync (queued, running, then final) and of its disks (queued, querying, copying, then final).</summary>
public static class VmaSyncStates
{
    public const string Queued = "queued";
    public const string Querying = "querying";
    public const string Copying = "copying";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    /// <summary>vCenter rejected the change id: CBT was reset, the OMA must fall back to a full copy ("*").</summary>
    public const string CbtReset = "cbt-reset";

    public static bool IsFinal(string state) => state is Completed or Failed or Cancelled or CbtReset;
}
