namespace MigrateKit.Modules.Vma.VSphere;

internal enum NetworkKind
{
    Standard,
    DistributedPortgroup,
    Opaque,
}

internal sealed record VmDisk(
    int DeviceKey,
    string Label,
    long CapacityBytes,
    string FileName,
    string DatastoreName,
    int? UnitNumber,
    int ControllerKey,
    /// <summary><c>thin</c>, <c>thick</c> (lazy zeroed), <c>eagerZeroedThick</c>, or <c>rdm</c>.</summary>
    string ProvisioningType,
    string? ChangeId,
    string BackingType,
    string? DiskMode);

internal sealed record VmNic(
    int DeviceKey,
    string Label,
    string DeviceType,
    string? MacAddress,
    NetworkKind NetworkKind,
    /// <summary>The network's name as vCenter shows it; for an opaque network vCenter does not list, <c>type:id</c>.</summary>
    string NetworkName,
    MoRef? Network,
    string? PortgroupKey,
    string? SwitchUuid,
    int ControllerKey,
    int? UnitNumber);

internal sealed record VmInfo(
    MoRef Ref,
    string Name,
    string? InstanceUuid,
    string InventoryPath,
    string PowerState,
    string? GuestId,
    string? GuestFullName,
    /// <summary><c>bios</c> or <c>efi</c>.</summary>
    string Firmware,
    int NumCpu,
    int MemoryMb,
    /// <summary>vmx-NN as a number (0 when vCenter does not say).</summary>
    int HardwareVersion,
    bool ChangeTrackingEnabled,
    bool IsTemplate,
    IReadOnlyList<VmSnapshot> Snapshots,
    IReadOnlyList<VmDisk> Disks,
    IReadOnlyList<VmNic> Nics);

/// <summary>One snapshot of a VM's tree, flattened (parent first).</summary>
internal sealed record VmSnapshot(MoRef Ref, string Name, int Id, MoRef? Parent, bool Quiesced);

/// <summary>A disk as frozen in a snapshot, with its CBT change id.</summary>
internal sealed record SnapshotDisk(int DeviceKey, string FileName, long CapacityBytes, string? ChangeId);

internal sealed record CbtStatus(bool Enabled, bool Supported, string? Reason, int HardwareVersion);

internal readonly record struct DiskExtent(long Start, long Length)
{
    public long End => Start + Length;
}

/// <summary>One QueryChangedDiskAreas answer.</summary>
internal sealed record DiskChangeInfo(long StartOffset, long Length, IReadOnlyList<DiskExtent> ChangedAreas);

/// <summary>All changed areas of a disk, merged, and how many QueryChangedDiskAreas calls it took.</summary>
internal sealed record ChangedAreas(IReadOnlyList<DiskExtent> Extents, int Pages, long Capacity)
{
    public long TotalBytes => Extents.Sum(e => e.Length);
}

internal enum ShutdownOutcome
{
    AlreadyOff,
    GuestShutdown,
    ForcedPowerOff,
}
