using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Volume.Contracts;

/// <summary>
/// The volume states OSSEA reports (CloudStack's Volume.State), kept in ossea_volumes.status and
/// <see cref="VolumeView.Status"/>. OSSEA owns this vocabulary, so it is not a closed set (and the
/// column has no CHECK): compare with these, never with literals.
/// </summary>
public static class OsseaVolumeStates
{
    /// <summary>Created but never attached: OSSEA has not placed it on storage yet.</summary>
    public const string Allocated = "Allocated";
    public const string Creating = "Creating";
    public const string Ready = "Ready";
    public const string Attaching = "Attaching";
    public const string Detaching = "Detaching";
    public const string Expunged = "Expunged";
    /// <summary>MigrateKit's, not OSSEA's: OSSEA no longer knows the volume that the row describes.</summary>
    public const string Missing = "Missing";
}

/// <summary>Who holds an attached volume (device_mappings.operation_mode, an ENUM).</summary>
public static class OperationModes
{
    /// <summary>Attached to the OMA appliance, where replication writes into it.</summary>
    public const string Oma = "oma";
    /// <summary>Attached to a failover's VM.</summary>
    public const string Failover = "failover";
}

/// <summary>What the OMA's kernel shows for a mapped volume (device_mappings.linux_state).</summary>
public static class LinuxDeviceStates
{
    public const string Present = "present";
    /// <summary>Mapped to the OMA, but the kernel no longer shows the device (found by reconcile).</summary>
    public const string Missing = "missing";
    /// <summary>Attached to another VM: no device on the OMA.</summary>
    public const string NotLocal = "not-local";

    /// <summary>Every state; V0025's CHECK on device_mappings.linux_state lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Present, Missing, NotLocal];
}

/// <summary>States of an NBD export (nbd_exports.status).</summary>
public static class NbdExportStatuses
{
    /// <summary>Served by the OMA's NBD server; an export that is not served has no row.</summary>
    public const string Active = "active";

    /// <summary>Every state; V0025's CHECK on nbd_exports.status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Active];
}

public sealed record DeviceMappingView(
    string VolumeId, string VmId, string OperationMode, int? CloudStackDeviceId, string? DevicePath, string? StableDevicePath,
    string CloudStackState, string LinuxState, long SizeBytes, DateTime? LastSync);

public sealed record NbdExportView(string VolumeId, string ExportName, string DevicePath, int Port, string Status);

public sealed record VolumeView(
    long Id, string VolumeId, string Name, long SizeBytes, string Status, int OsseaConfigId, string? AttachedVmId,
    DeviceMappingView? Mapping, NbdExportView? Export, DateTime CreatedAt, DateTime UpdatedAt);

public sealed record VolumeOperationView(
    Guid Id, string Type, string Status, string? VolumeId, string? VmId, string Request, string? Response, string? Error,
    Guid? JobId, Guid? CorrelationId, DateTime CreatedAt, DateTime? CompletedAt);

public sealed record VolumeSnapshotView(string SnapshotId, string VolumeId, string Name, string State);

/// <summary>Creates an OSSEA volume of at least <paramref name="SizeBytes"/> (rounded up to whole GiB).</summary>
public sealed record CreateVolumeCommand(int OsseaConfigId, string Name, long SizeBytes, string? DiskOfferingId = null)
    : IRequest<VolumeView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.create", $"create volume '{Name}'", "volume") { EntityType = "volume", EntityId = Name };
}

/// <summary>
/// Attaches a volume to the OMA appliance (<paramref name="VmId"/> null) and finds its Linux device,
/// or to another OSSEA VM (failover; <paramref name="AsRoot"/> for its boot disk). Idempotent: a
/// volume already attached to that VM yields its existing mapping, never a second device.
/// </summary>
public sealed record AttachVolumeCommand(string VolumeId, string? VmId = null, bool AsRoot = false) : IRequest<DeviceMappingView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.attach", $"attach volume {VolumeId} to {VmId ?? "the OMA"}", "volume")
    {
        EntityType = "volume",
        EntityId = VolumeId,
    };
}

/// <summary>Removes the volume's NBD export (if any), detaches it from its VM and drops its mapping.</summary>
public sealed record DetachVolumeCommand(string VolumeId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.detach", $"detach volume {VolumeId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

/// <summary>Deletes a volume in OSSEA and here; refused (409) while it is attached to any VM.</summary>
public sealed record DeleteVolumeCommand(string VolumeId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.delete", $"delete volume {VolumeId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

public sealed record ResizeVolumeCommand(string VolumeId, long SizeBytes) : IRequest<VolumeView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.resize", $"resize volume {VolumeId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

public sealed record CreateVolumeSnapshotCommand(string VolumeId, string Name) : IRequest<VolumeSnapshotView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.snapshot.create", $"snapshot volume {VolumeId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

/// <summary>Reverts a volume to a snapshot; the volume must be detached (or its VM stopped).</summary>
public sealed record RevertVolumeSnapshotCommand(string VolumeId, string SnapshotId) : IRequest<VolumeSnapshotView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.snapshot.revert", $"revert volume {VolumeId} to snapshot {SnapshotId}", "volume")
    {
        EntityType = "volume",
        EntityId = VolumeId,
    };
}

public sealed record DeleteVolumeSnapshotCommand(string VolumeId, string SnapshotId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.snapshot.delete", $"delete snapshot {SnapshotId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

/// <summary>Serves an OMA-attached volume as NBD export <paramref name="ExportName"/>; idempotent.</summary>
public sealed record EnsureNbdExportCommand(string VolumeId, string ExportName) : IRequest<NbdExportView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.export.ensure", $"export volume {VolumeId} as '{ExportName}'", "volume")
    {
        EntityType = "volume",
        EntityId = VolumeId,
    };
}

/// <summary>
/// Writes zeroes over the whole of an exported, OMA-attached volume (holes where the device can),
/// e.g. before a full copy that writes only the source's allocated areas.
/// </summary>
public sealed record ZeroVolumeCommand(string VolumeId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.zero", $"zero volume {VolumeId}", "volume") { EntityType = "volume", EntityId = VolumeId };
}

public sealed record RemoveNbdExportCommand(string VolumeId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.export.remove", $"remove the export of volume {VolumeId}", "volume")
    {
        EntityType = "volume",
        EntityId = VolumeId,
    };
}

/// <summary>The device a volume is attached as; null when it is not attached.</summary>
public sealed record GetVolumeDeviceQuery(string VolumeId) : IRequest<DeviceMappingView?>;

public sealed record GetVolumeQuery(string VolumeId) : IRequest<VolumeView?>;

/// <summary>
/// A volume by its row id (<c>vm_disks.ossea_volume_id</c>). Other modules keep only this id and
/// ask here for the rest: one source of truth for volume UUIDs.
/// </summary>
public sealed record GetVolumeByRowIdQuery(long Id) : IRequest<VolumeView?>;

public sealed record ListVolumesQuery : IRequest<IReadOnlyList<VolumeView>>;

public sealed record ListVolumeOperationsQuery(string? VolumeId = null, int Limit = 100) : IRequest<IReadOnlyList<VolumeOperationView>>;

/// <summary>Compares the database, OSSEA and the kernel; repairs what is safe, reports the rest. Never deletes.</summary>
public sealed record ReconcileVolumesCommand : IRequest<ReconcileReport>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.reconcile", "reconcile volumes", "volume");
}

public sealed record ReconcileReport(int VolumesChecked, IReadOnlyList<string> Repaired, IReadOnlyList<string> Problems);
