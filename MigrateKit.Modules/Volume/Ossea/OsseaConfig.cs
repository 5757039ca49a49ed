namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// The connection settings of one <c>ossea_configs</c> row, with the keys already decrypted.
/// <see cref="ToString"/> leaves the keys out, so the record can be logged or shown in errors.
/// </summary>
internal sealed record OsseaConfig
{
    public required string Name { get; init; }
    /// <summary>The API endpoint, e.g. <c>https://cloud.example/client/api</c>.</summary>
    public required string ApiUrl { get; init; }
    public required string ApiKey { get; init; }
    public required string SecretKey { get; init; }
    /// <summary>The zone id (UUID) MigrateKit works in; a zone name is accepted too.</summary>
    public required string Zone { get; init; }
    public string? Domain { get; init; }
    public string? TemplateId { get; init; }
    public string? NetworkId { get; init; }
    public string? ServiceOfferingId { get; init; }
    public string? DiskOfferingId { get; init; }
    /// <summary>The OMA appliance VM that replication volumes are attached to.</summary>
    public string? OmaVmId { get; init; }

    public override string ToString()
        => $"OsseaConfig {{ Name = {Name}, ApiUrl = {ApiUrl}, Zone = {Zone}, OmaVmId = {OmaVmId}, ApiKey = ***, SecretKey = *** }}";
}
