using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Volume.Contracts;

// TEMPORARY copy of the lead's spec (contracts.md) so the failover branch compiles; replaced by volvm's file at merge.

public sealed record VmNicRequest(string NetworkId, string? MacAddress = null);
public sealed record VirtualMachineNicView(string NetworkId, string? NetworkName, string? MacAddress, string? IpAddress, bool IsDefault);
public sealed record VirtualMachineView(string VmId, string Name, string? DisplayName, string State, string? ServiceOfferingId,
    IReadOnlyList<VirtualMachineNicView> Nics);
public sealed record OsseaNetworkView(string Id, string Name, string? ZoneId, string? State, string? Type);
public sealed record ServiceOfferingView(string Id, string Name, int? CpuNumber, int? MemoryMb, bool IsCustomized);
public sealed record OsseaConfigCheckView(int OsseaConfigId, bool Ok, string? Error);

public sealed record CreateVirtualMachineCommand(int OsseaConfigId, string Name, string Owner, IReadOnlyList<VmNicRequest> Nics)
    : IRequest<VirtualMachineView>, IJobRequest
{
    public string? DisplayName { get; init; }
    public string? ServiceOfferingId { get; init; }
    public int? CpuNumber { get; init; }
    public int? MemoryMb { get; init; }

    public JobStart DescribeJob() => new("volume.vm.create", $"create VM '{Name}'", "volume") { EntityType = "vm", EntityId = Name };
}
public sealed record VirtualMachineCreatedNotification(int OsseaConfigId, string VmId, string Name, string Owner) : INotification;

public sealed record StartVirtualMachineCommand(int OsseaConfigId, string VmId) : IRequest<VirtualMachineView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.start", $"start VM {VmId}", "volume") { EntityType = "vm", EntityId = VmId };
}
public sealed record StopVirtualMachineCommand(int OsseaConfigId, string VmId, bool Forced = false) : IRequest<VirtualMachineView>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.stop", $"stop VM {VmId}", "volume") { EntityType = "vm", EntityId = VmId };
}
public sealed record DestroyVirtualMachineCommand(int OsseaConfigId, string VmId) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("volume.vm.destroy", $"destroy VM {VmId}", "volume") { EntityType = "vm", EntityId = VmId };
}
public sealed record GetVirtualMachineQuery(int OsseaConfigId, string VmId) : IRequest<VirtualMachineView?>;
public sealed record FindVirtualMachineByNameQuery(int OsseaConfigId, string Name) : IRequest<VirtualMachineView?>;
public sealed record ListOsseaNetworksQuery(int OsseaConfigId) : IRequest<IReadOnlyList<OsseaNetworkView>>;
public sealed record ListServiceOfferingsQuery(int OsseaConfigId) : IRequest<IReadOnlyList<ServiceOfferingView>>;
public sealed record CheckOsseaConfigQuery(int OsseaConfigId) : IRequest<OsseaConfigCheckView>;
