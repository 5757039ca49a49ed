namespace MigrateKit.Modules.Replication.Vma;

// The VMA API shapes this module reads (MigrateKit.Modules/Vma/README.md); unknown fields are ignored.

internal sealed record VmaVmSpec(
    string Moref, string Name, string? Path, string? InstanceUuid, string? PowerState, bool CbtEnabled, IReadOnlyList<VmaDiskSpec> Disks,
    IReadOnlyList<VmaSnapshotRef>? Snapshots)
{
    public string? GuestId { get; init; }
    public string? GuestFullName { get; init; }
    public string? Firmware { get; init; }
    public int? NumCpu { get; init; }
    public int? MemoryMb { get; init; }
    public IReadOnlyList<VmaNicSpec>? Nics { get; init; }
}

internal sealed record VmaNicSpec(
    int DeviceKey, string? Label, string? DeviceType, string? MacAddress, string? NetworkKind, string? NetworkName, string? NetworkMoref);

internal sealed record VmaPowerResult(string? Vm, string Outcome, string? PowerState);

internal sealed record VmaSnapshotRef(string SnapshotId, string? Name);

internal sealed record VmaDiskSpec(
    int DeviceKey, string? Label, long CapacityBytes, string? FileName, string? Datastore, int? UnitNumber, string? ProvisioningType,
    string? ChangeId);

internal sealed record VmaCbtStatus(string? Vm, bool Enabled, bool Supported, string? Reason);

internal sealed record VmaSnapshot(string? Vm, string SnapshotId, string? Name, IReadOnlyList<VmaSnapshotDisk> Disks);

internal sealed record VmaSnapshotDisk(int DeviceKey, string? FileName, long CapacityBytes, string? ChangeId);

internal sealed record VmaSyncDisk(int DeviceKey, string ExportName, string ChangeId, long StartOffset)
{
    /// <summary>Copied in addition to vCenter's changed areas (ranges a verification found different).</summary>
    public IReadOnlyList<VmaByteRange>? ExtraRanges { get; init; }
}

internal sealed record VmaByteRange(long Offset, long Length);

internal sealed record VmaHashRequest(string? ChangeId, IReadOnlyList<VmaByteRange>? Ranges, int ChunkBytes, long FromOffset, long MaxBytes);

internal sealed record VmaRangeHash(long Offset, long Length, string Sha256);

internal sealed record VmaDiskHashes(
    string? Vm, string? SnapshotId, int DeviceKey, long CapacityBytes, string Algorithm, int ChunkBytes, IReadOnlyList<VmaRangeHash> Chunks,
    long BytesHashed, long? NextOffset);

internal sealed record VmaSyncRequest(string JobId, string Vm, string SnapshotId, IReadOnlyList<VmaSyncDisk> Disks, long? BandwidthLimitBytesPerSecond);

internal sealed record VmaSyncAccepted(string JobId, string State, string? ProgressUrl);

internal sealed record VmaSyncProgress(
    string JobId, string State, long BytesTotal, long BytesDone, double Percent, double RateBytesPerSecond, string? Error,
    IReadOnlyList<VmaDiskProgress> Disks)
{
    public bool IsFinal => State is VmaSyncStates.Completed or VmaSyncStates.Failed or VmaSyncStates.Cancelled or VmaSyncStates.CbtReset;
}

internal sealed record VmaDiskProgress(
    int DeviceKey, string? ExportName, string State, string? BaseChangeId, string? NewChangeId, long StartOffset, long BytesTotal,
    long BytesDone, long DataBytesSent, long ZeroBytesSent, long ExtentsTotal, long ExtentsDone, double Percent, double RateBytesPerSecond,
    long Checkpoint, string? Error);

/// <summary>The states of a sync (queued, running, then final) and of its disks (queued, querying, copying, then final).</summary>
internal static class VmaSyncStates
{
    public const string Queued = "queued";
    public const string Querying = "querying";
    public const string Copying = "copying";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string CbtReset = "cbt-reset";
}
