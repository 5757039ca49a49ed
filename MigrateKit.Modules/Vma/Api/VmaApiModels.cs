using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Api;

internal sealed record HealthView(string Status, string Version, VCenterHealthView VCenter, TunnelHealthView Tunnel);

internal sealed record VCenterHealthView(bool Configured, bool Reachable, string? Address, string? Error);

internal sealed record TunnelHealthView(string State, int Connections, string? LastError);

internal sealed record VmSummaryView(
    string Moref, string Name, string Path, string PowerState, bool CbtEnabled, bool IsTemplate,
    int DiskCount, long TotalCapacityBytes, string? GuestId, string Firmware, int NumCpu, int MemoryMb);

internal sealed record VmDiskView(
    int DeviceKey, string Label, long CapacityBytes, string FileName, string Datastore, int? UnitNumber,
    int ControllerKey, string ProvisioningType, string? ChangeId, string? DiskMode);

internal sealed record VmNicView(
    int DeviceKey, string Label, string DeviceType, string? MacAddress, string NetworkKind, string NetworkName, string? NetworkMoref);

internal sealed record VmSnapshotView(string SnapshotId, string Name, int Id, string? ParentId, bool Quiesced);

internal sealed record VmSpecView(
    string Moref, string Name, string Path, string? InstanceUuid, string PowerState, string? GuestId, string? GuestFullName,
    string Firmware, int NumCpu, int MemoryMb, int HardwareVersion, bool CbtEnabled, bool IsTemplate,
    IReadOnlyList<VmDiskView> Disks, IReadOnlyList<VmNicView> Nics, IReadOnlyList<VmSnapshotView> Snapshots);

internal sealed record CbtStatusView(string Vm, bool Enabled, bool Supported, string? Reason, int HardwareVersion);

internal sealed record CreateSnapshotRequest(string? Name, string? Description, bool Quiesce);

internal sealed record SnapshotDiskView(int DeviceKey, string FileName, long CapacityBytes, string? ChangeId);

internal sealed record SnapshotCreatedView(string Vm, string SnapshotId, string Name, IReadOnlyList<SnapshotDiskView> Disks);

internal sealed record PowerResultView(string Vm, string Outcome, string PowerState);

internal sealed record SyncAcceptedView(string JobId, string State, string ProgressUrl);

internal static class VmaApiMapping
{
    public static VmSummaryView Summary(VmInfo v) => new(v.Ref.Value, v.Name, v.InventoryPath, v.PowerState, v.ChangeTrackingEnabled,
        v.IsTemplate, v.Disks.Count, v.Disks.Sum(d => d.CapacityBytes), v.GuestId, v.Firmware, v.NumCpu, v.MemoryMb);

    public static VmSpecView Spec(VmInfo v) => new(v.Ref.Value, v.Name, v.InventoryPath, v.InstanceUuid, v.PowerState, v.GuestId,
        v.GuestFullName, v.Firmware, v.NumCpu, v.MemoryMb, v.HardwareVersion, v.ChangeTrackingEnabled, v.IsTemplate,
        [.. v.Disks.Select(d => new VmDiskView(d.DeviceKey, d.Label, d.CapacityBytes, d.FileName, d.DatastoreName, d.UnitNumber,
            d.ControllerKey, d.ProvisioningType, d.ChangeId, d.DiskMode))],
        [.. v.Nics.Select(n => new VmNicView(n.DeviceKey, n.Label, n.DeviceType, n.MacAddress, NetworkKindName(n.NetworkKind),
            n.NetworkName, n.Network?.Value))],
        [.. v.Snapshots.Select(s => new VmSnapshotView(s.Ref.Value, s.Name, s.Id, s.Parent?.Value, s.Quiesced))]);

    private static string NetworkKindName(NetworkKind kind) => kind switch
    {
        NetworkKind.DistributedPortgroup => "distributed-portgroup",
        NetworkKind.Opaque => "opaque",
        _ => "standard",
    };
}
