using Dapper;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Volume.Contracts;
using MySqlConnector;

namespace MigrateKit.Modules.Volume.Data;

/// <summary>An ossea_configs row with its keys still encrypted.</summary>
internal sealed record OsseaConfigRow(
    int Id, string Name, string ApiUrl, string ApiKey, string SecretKey, string? Domain, string Zone, string? TemplateId,
    string? NetworkId, string? ServiceOfferingId, string? DiskOfferingId, string OmaVmId, bool IsActive,
    DateTime CreatedAt, DateTime UpdatedAt)
{
    public OsseaConfigView ToView() => new(Id, Name, ApiUrl, Domain, Zone, TemplateId, NetworkId, ServiceOfferingId,
        DiskOfferingId, OmaVmId, IsActive, CreatedAt, UpdatedAt);

    public override string ToString() => $"OsseaConfigRow {{ Id = {Id}, Name = {Name} }}";
}

/// <summary>All SQL of ossea_configs.</summary>
internal sealed class OsseaConfigStore(MySqlDataSource dataSource)
{
    private const string Columns = """
        id AS Id, name AS Name, api_url AS ApiUrl, api_key AS ApiKey, secret_key AS SecretKey, domain AS Domain, zone AS Zone,
        template_id AS TemplateId, network_id AS NetworkId, service_offering_id AS ServiceOfferingId,
        disk_offering_id AS DiskOfferingId, oma_vm_id AS OmaVmId, is_active AS IsActive, created_at AS CreatedAt, updated_at AS UpdatedAt
        """;

    private const string InsertSql = """
        INSERT INTO ossea_configs (name, api_url, api_key, secret_key, domain, zone, template_id, network_id,
                                   service_offering_id, disk_offering_id, oma_vm_id, created_at, updated_at, is_active)
        VALUES (@Name, @ApiUrl, @ApiKey, @SecretKey, @Domain, @Zone, @TemplateId, @NetworkId,
                @ServiceOfferingId, @DiskOfferingId, @OmaVmId, @At, @At, TRUE);
        SELECT LAST_INSERT_ID();
        """;

    private const string ListSql = $"SELECT {Columns} FROM ossea_configs ORDER BY id";
    private const string GetSql = $"SELECT {Columns} FROM ossea_configs WHERE id = @Id";
    private const string ExistsByNameSql = "SELECT COUNT(*) FROM ossea_configs WHERE name = @Name";
    private const string DeleteSql = "DELETE FROM ossea_configs WHERE id = @Id";

    public async Task<int> InsertAsync(object row, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteScalarAsync<int>(new CommandDefinition(InsertSql, row, cancellationToken: ct));
    }

    public async Task<bool> NameExistsAsync(string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(ExistsByNameSql, new { Name = name }, cancellationToken: ct)) > 0;
    }

    public async Task<IReadOnlyList<OsseaConfigRow>> ListAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<OsseaConfigRow>(new CommandDefinition(ListSql, cancellationToken: ct))).AsList();
    }

    public async Task<OsseaConfigRow?> GetAsync(int id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<OsseaConfigRow>(new CommandDefinition(GetSql, new { Id = id }, cancellationToken: ct));
    }

    /// <summary>Deletes the row; false when volumes or jobs still refer to it (the foreign keys refuse).</summary>
    public async Task<(bool Found, bool InUse)> DeleteAsync(int id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        try
        {
            return (await conn.ExecuteAsync(new CommandDefinition(DeleteSql, new { Id = id }, cancellationToken: ct)) > 0, false);
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.RowIsReferenced2)
        {
            return (true, true);
        }
    }
}
