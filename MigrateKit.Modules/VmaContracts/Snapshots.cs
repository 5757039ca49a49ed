using System.Text.Json.Serialization;

namespace MigrateKit.Modules.VmaContracts;

/// <summary>POST /api/v1/vms/{vmPath}/snapshots; every field may be absent.</summary>
public sealed record VmaCreateSnapshotRequest(string? Name, string? Description)
{
    /// <summary>Quiesce the guest file systems first; not sent unless asked for (the OMA never asks).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public bool Quiesce { get; init; }
}

/// <summary>201 answer to POST …/snapshots: the snapshot and its frozen disks.</summary>
public sealed record VmaSnapshot(string? Vm, string SnapshotId, string? Name, IReadOnlyList<VmaSnapshotDisk> Disks);

public sealed record VmaSnapshotDisk(int DeviceKey, string? FileName, long CapacityBytes, string? ChangeId);
