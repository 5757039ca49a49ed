using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Volume.Contracts;

// OSSEA virtual machines for failover and cleanup. Only the Volume module calls OSSEA (DESIGN rule 1),
// so the Failover and Cleanup modules create, start, stop and destroy their VMs through these requests.

/// <summary>
/// The VM states OSSEA reports (CloudStack's VirtualMachine.State), as <see cref="VirtualMachineView.State"/>
/// carries them. OSSEA owns this vocabulary, so it is not a closed set: compare with these, never with
/// literals, and expect states that are not listed.
/// </summary>
public static class OsseaVmStates
{
    public const string Starting = "Starting";
    public const string Running = "Running";
    public const string Stopping = "Stopping";
    public const string Stopped = "Stopped";
    public const string Migrating = "Migrating";
    /// <summary>A VM whose deploy failed; it never becomes usable and must be destroyed.</summary>
    public const string Error = "Error";
    /// <summary>OSSEA lost track of the host; also what a view shows when OSSEA reported no state.</summary>
    public const string Unknown = "Unknown";
    public const string Destroyed = "Destroyed";
    public const string Expunging = "Expunging";
    /// <summary>Expunge finished; a listing that still shows the VM shows this.</summary>
    public const string Expunged = "Expunged";

    /// <summary>States OSSEA leaves by itself: wait for the VM to settle before judging it.</summary>
    public static readonly IReadOnlySet<string> Transitional = Set(Starting, Stopping, Migrating, Unknown);

    /// <summary>States in which the VM runs or is about to: stop it before taking its volumes away.</summary>
    public static readonly IReadOnlySet<string> Active = Set(Running, Starting, Stopping, Migrating);

    /// <summary>States in which the VM is gone for MigrateKit's purposes (expunge is under way or done).</summary>
    public static readonly IReadOnlySet<string> Gone = Set(Destroyed, Expunging, Expunged);

    public static bool IsTransitional(string? state) => state is not null && Transitional.Contains(state);

    public static bool IsActive(string? state) => state is not null && Active.Contains(state);

    public static bool IsGone(string? state) => state is not null && Gone.Contains(state);

    // OSSEA's own clients compare states without case; so does MigrateKit.
    private static HashSet<string> Set(params string[] states) => new(states, StringComparer.OrdinalIgnoreCase);
}

/// <summary>One NIC of a new VM: the OSSEA network and, to keep the source VM's address, its MAC.</summary>
public sealed record VmNicRequest(string NetworkId, string? MacAddress = null);

public sealed record VirtualMachineNicView(string NetworkId, string? NetworkName, string? MacAddress, string? IpAddress, bool IsDefault);

/// <summary>An OSSEA VM as OSSEA reports it now (never cached: state changes outside MigrateKit).</summary>
public sealed record VirtualMachineView(string VmId, string Name, string? DisplayName, string State, string? ServiceOfferingId,
    IReadOnlyList<VirtualMachineNicView> Nics);

/// <summary>A network a VM can be placed on; operators need its id for failover network mappings.</summary>
public sealed record OsseaNetworkView(string Id, string Name, string? ZoneId, string? State, string? Type);

/// <summary>A compute offering; customized ones take the CPU count and memory from the request.</summary>
public sealed record ServiceOfferingView(string Id, string Name, int? CpuNumber, int? MemoryMb, bool IsCustomized);

/// <summary>Whether a stored config still reaches OSSEA (credentials, signature, zone); <paramref name="Error"/> says why not.</summary>
public sealed record OsseaConfigCheckView(int OsseaConfigId, bool Ok, string? Error);

/// <summary>
/// Creates a STOPPED VM from the config's template in the config's zone with the given (or the config's)
/// service offering and NICs in order (first = default NIC; a MAC kept where given), then detaches and
/// deletes the template's own ROOT volume, so the caller attaches a replicated volume as its root
/// (<c>AttachVolumeCommand(volumeId, vmId, AsRoot: true)</c>).
/// </summary>
/// <remarks>
/// The name must be unique (OSSEA requires unique host names); a lost answer is resolved by name.
/// Idempotent for the same <paramref name="Owner"/>: an existing VM of that name created for that owner
/// is reused; one created for another owner (or outside MigrateKit) is a conflict.
/// As soon as OSSEA reports the new VM's id, before any further step, it publishes
/// <see cref="VirtualMachineCreatedNotification"/> (awaited, in-process), so a caller can always roll
/// back a VM that a later step failed on: the VM is left in place for the caller's
/// <see cref="DestroyVirtualMachineCommand"/>.
/// </remarks>
/// <param name="Owner">Who the VM is for, e.g. a failover job id; the key of idempotent retries.</param>
public sealed record CreateVirtualMachineCommand(int OsseaConfigId, string Name, string Owner, IReadOnlyList<VmNicRequest> Nics)
    : IRequest<VirtualMachineView>, IJobRequest
{
    public string? DisplayName { get; init; }

    /// <summary>Null = the config's service_offering_id.</summary>
    public string? ServiceOfferingId { get; init; }

    /// <summary>For customized offerings only (required there, refused elsewhere).</summary>
    public int? CpuNumber { get; init; }

    /// <summary>For customized offerings only (required there, refused elsewhere).</summary>
    public int? MemoryMb { get; init; }

    public JobStart DescribeJob() => new("volume.vm.create", $"create VM '{Name}' for {Owner}", "volume") { EntityType = "vm", EntityId = Name };
}

/// <summary>
/// A VM now exists in OSSEA for <paramref name="Owner"/>. Published (awaited) by CreateVirtualMachine as
/// soon as the id is known, before it continues; also published again when a retry reuses the VM.
/// Handlers must therefore be idempotent. A handler that throws fails the create (the VM stays).
/// </summary>
public sealed record VirtualMachineCreatedNotification(int OsseaConfigId, string VmId, string Name, string Owner) : INotification;

/// <summary>Starts a VM; a Running VM is success.</summary>
public sealed record StartVirtualMachineCommand(int OsseaConfigId, string VmId) : IRequest<VirtualMachineView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.start", $"start VM {VmId}", "volume") { EntityType = "vm", EntityId = VmId };
}

/// <summary>Stops a VM (<paramref name="Forced"/>: power off); a Stopped VM is success.</summary>
public sealed record StopVirtualMachineCommand(int OsseaConfigId, string VmId, bool Forced = false) : IRequest<VirtualMachineView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.stop", $"stop VM {VmId}{(Forced ? " (forced)" : "")}", "volume") { EntityType = "vm", EntityId = VmId };
}

/// <summary>
/// Destroys a VM with expunge. Refused (ConflictException → 409) while any volume in ossea_volumes is
/// attached to it (expunge would take a replicated ROOT disk with it); an unknown or already expunged
/// VM is success (safe retry).
/// </summary>
public sealed record DestroyVirtualMachineCommand(int OsseaConfigId, string VmId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.destroy", $"destroy VM {VmId}", "volume") { EntityType = "vm", EntityId = VmId };
}

/// <summary>The VM; null when OSSEA does not know it (or it is expunged).</summary>
public sealed record GetVirtualMachineQuery(int OsseaConfigId, string VmId) : IRequest<VirtualMachineView?>;

/// <summary>The live (not destroyed) VM of that exact name; null when there is none.</summary>
public sealed record FindVirtualMachineByNameQuery(int OsseaConfigId, string Name) : IRequest<VirtualMachineView?>;

/// <summary>The networks of the config's zone.</summary>
public sealed record ListOsseaNetworksQuery(int OsseaConfigId) : IRequest<IReadOnlyList<OsseaNetworkView>>;

public sealed record ListServiceOfferingsQuery(int OsseaConfigId) : IRequest<IReadOnlyList<ServiceOfferingView>>;

/// <summary>One signed call to OSSEA with the stored config; never throws for OSSEA errors (they are the answer).</summary>
public sealed record CheckOsseaConfigQuery(int OsseaConfigId) : IRequest<OsseaConfigCheckView>;
