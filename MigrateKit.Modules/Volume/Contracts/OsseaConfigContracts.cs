using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Volume.Contracts;

/// <summary>Adds an OSSEA (CloudStack) endpoint. The keys are stored encrypted and never returned.</summary>
public sealed record CreateOsseaConfigCommand : IRequest<OsseaConfigView>, IJobRequest
{
    public string Name { get; init; } = "";
    public string ApiUrl { get; init; } = "";
    public string ApiKey { get; init; } = "";
    public string SecretKey { get; init; } = "";
    public string? Domain { get; init; }
    public string Zone { get; init; } = "";
    public string? TemplateId { get; init; }
    public string? NetworkId { get; init; }
    public string? ServiceOfferingId { get; init; }
    public string? DiskOfferingId { get; init; }
    /// <summary>The OSSEA VM id of this OMA appliance: replication volumes attach to it.</summary>
    public string OmaVmId { get; init; } = "";

    public JobStart DescribeJob() => new("ossea-config.create", $"add OSSEA config '{Name}'", "volume")
    {
        EntityType = "ossea_config",
        EntityId = Name,
    };

    // Records print their properties; this one must never print the keys.
    public override string ToString() => $"CreateOsseaConfigCommand {{ Name = {Name}, ApiUrl = {ApiUrl}, Zone = {Zone} }}";
}

public sealed record OsseaConfigView(
    int Id, string Name, string ApiUrl, string? Domain, string Zone, string? TemplateId, string? NetworkId,
    string? ServiceOfferingId, string? DiskOfferingId, string OmaVmId, bool IsActive, DateTime CreatedAt, DateTime UpdatedAt);

public sealed record ListOsseaConfigsQuery : IRequest<IReadOnlyList<OsseaConfigView>>;

public sealed record GetOsseaConfigQuery(int Id) : IRequest<OsseaConfigView?>;

/// <summary>Removes a config; refused while volumes or replication jobs still use it.</summary>
public sealed record DeleteOsseaConfigCommand(int Id) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("ossea-config.delete", $"delete OSSEA config {Id}", "volume")
    {
        EntityType = "ossea_config",
        EntityId = Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };
}
