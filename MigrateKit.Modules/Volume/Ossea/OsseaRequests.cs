namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>createVolume. The name must be unique among the zone's volumes (see <see cref="IOsseaClient.CreateVolumeAsync"/>).</summary>
/// <param name="SizeGb">Required for a customized disk offering, refused by a fixed one; at least 1.</param>
internal sealed record OsseaCreateVolume(string Name, string DiskOfferingId, string ZoneId, long? SizeGb = null);

/// <summary>One NIC of a new VM (<c>iptonetworklist[i]</c>): network, optional fixed IP and MAC.</summary>
internal sealed record OsseaNicPlacement(string NetworkId, string? IpAddress = null, string? MacAddress = null);

/// <summary>deployVirtualMachine. The name must be unique (CloudStack requires unique host names per network anyway).</summary>
internal sealed record OsseaDeployVirtualMachine
{
    public required string Name { get; init; }
    public string? DisplayName { get; init; }
    public required string ServiceOfferingId { get; init; }
    public required string TemplateId { get; init; }
    public required string ZoneId { get; init; }

    /// <summary>Plain network list (<c>networkids</c>); use <see cref="Nics"/> instead to fix IPs or MACs.</summary>
    public IReadOnlyList<string> NetworkIds { get; init; } = [];

    /// <summary><c>iptonetworklist</c>; CloudStack refuses it together with <c>networkids</c>.</summary>
    public IReadOnlyList<OsseaNicPlacement> Nics { get; init; } = [];

    /// <summary>MAC of the default NIC when <see cref="NetworkIds"/> is used (<c>macaddress</c>).</summary>
    public string? MacAddress { get; init; }

    public string? DiskOfferingId { get; init; }
    public long? RootDiskSizeGb { get; init; }
    public bool StartVm { get; init; } = true;
    public string? Hypervisor { get; init; }

    /// <summary>VM details (<c>details[0].key=value</c>), e.g. <c>rootDiskController</c>, <c>nicAdapter</c>.</summary>
    public IReadOnlyDictionary<string, string> Details { get; init; } = new Dictionary<string, string>();
}

/// <summary>listVolumes filters; all optional.</summary>
internal sealed record OsseaVolumeQuery(
    string? Id = null, string? VirtualMachineId = null, string? Name = null, string? ZoneId = null, string? Type = null);

/// <summary>The result of <see cref="IOsseaClient.TestConnectionAsync"/>.</summary>
/// <param name="ErrorCode">The CloudStack error code when the API refused the call.</param>
internal sealed record OsseaConnectionCheck(bool Succeeded, OsseaZone? Zone, string Message, int? ErrorCode = null);
