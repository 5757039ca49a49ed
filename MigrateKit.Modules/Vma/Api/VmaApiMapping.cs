using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Vma.Api;

/// <summary>vSphere's view of a VM as the API's records (MigrateKit.Modules/VmaContracts).</summary>
internal static class VmaApiMapping
{
    public static VmaVmSummary Summary(VmInfo v) => new(v.Ref.Value, v.Name, v.InventoryPath, v.PowerState, v.ChangeTrackingEnabled,
        v.IsTemplate, v.Disks.Count, v.Disks.Sum(d => d.CapacityBytes), v.GuestId, v.Firmware, v.NumCpu, v.MemoryMb);

    public static VmaVmSpec Spec(VmInfo v) => new(v.Ref.Value, v.Name, v.InventoryPath, v.InstanceUuid, v.PowerState, v.GuestId,
        v.GuestFullName, v.Firmware, v.NumCpu, v.MemoryMb, v.HardwareVersion, v.ChangeTrackingEnabled, v.IsTemplate,
        [.. v.Disks.Select(d => new VmaDiskSpec(d.DeviceKey, d.Label, d.CapacityBytes, d.FileName, d.DatastoreName, d.UnitNumber,
            d.ControllerKey, d.ProvisioningType, d.ChangeId, d.DiskMode))],
        [.. v.Nics.Select(n => new VmaNicSpec(n.DeviceKey, n.Label, n.DeviceType, n.MacAddress, NetworkKindName(n.NetworkKind),
            n.NetworkName, n.Network?.Value))],
        [.. v.Snapshots.Select(s => new VmaSnapshotInfo(s.Ref.Value, s.Name, s.Id, s.Parent?.Value, s.Quiesced))]);

    private static string NetworkKindName(NetworkKind kind) => kind switch
    {
        NetworkKind.DistributedPortgroup => "distributed-portgroup",
        NetworkKind.Opaque => "opaque",
        _ => "standard",
    };
}
