namespace MigrateKit.Modules.VmaContracts;

// Where a field is nullable the agent always fills it today, but the OMA reads absence as "unknown"
// rather than as a default (an older agent, or a VM without that detail).

/// <summary>One entry of GET /api/v1/vms.</summary>
public sealed record VmaVmSummary(
    string Moref, string Name, string Path, string PowerState, bool CbtEnabled, bool IsTemplate,
    int DiskCount, long TotalCapacityBytes, string? GuestId, string Firmware, int NumCpu, int MemoryMb);

/// <summary>GET /api/v1/vms/{vmPath}.</summary>
public sealed record VmaVmSpec(
    string Moref, string Name, string? Path, string? InstanceUuid, string? PowerState, string? GuestId, string? GuestFullName,
    string? Firmware, int? NumCpu, int? MemoryMb, int HardwareVersion, bool CbtEnabled, bool IsTemplate,
    IReadOnlyList<VmaDiskSpec> Disks, IReadOnlyList<VmaNicSpec>? Nics, IReadOnlyList<VmaSnapshotInfo>? Snapshots);

public sealed record VmaDiskSpec(
    int DeviceKey, string? Label, long CapacityBytes, string? FileName, string? Datastore, int? UnitNumber,
    int ControllerKey, string? ProvisioningType, string? ChangeId, string? DiskMode);

/// <param name="NetworkKind"><c>standard</c>, <c>distributed-portgroup</c> or <c>opaque</c>.</param>
public sealed record VmaNicSpec(
    int DeviceKey, string? Label, string? DeviceType, string? MacAddress, string? NetworkKind, string? NetworkName, string? NetworkMoref);

/// <summary>A snapshot the VM has (the tree flattened).</summary>
public sealed record VmaSnapshotInfo(string SnapshotId, string? Name, int Id, string? ParentId, bool Quiesced);

/// <summary>GET …/cbt-status and POST …/enable-cbt.</summary>
public sealed record VmaCbtStatus(string? Vm, bool Enabled, bool Supported, string? Reason, int HardwareVersion);

/// <summary>POST …/power-off and …/shutdown.</summary>
/// <param name="Outcome"><c>powered-off</c>, <c>guest-shutdown</c>, <c>forced-power-off</c> or <c>already-off</c>.</param>
public sealed record VmaPowerResult(string? Vm, string Outcome, string? PowerState);
