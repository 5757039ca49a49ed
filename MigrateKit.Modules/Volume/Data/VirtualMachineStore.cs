using Dapper;
using MigrateKit.Modules.Core.Data;
using MySqlConnector;

namespace MigrateKit.Modules.Volume.Data;

/// <summary>
/// SQL for the OSSEA VM commands: which managed volumes sit on a VM, and which owner a VM was created
/// for (the create_vm rows of volume_operations are that record).
/// </summary>
internal sealed class VirtualMachineStore(MySqlDataSource dataSource)
{
    /// <summary>The operation type of CreateVirtualMachine's volume_operations rows.</summary>
    public const string CreateOperation = "create_vm";

    // A managed volume is on the VM if our mapping says so or our own row says so (attach writes both).
    private const string ManagedVolumesOnVmSql = """
        SELECT v.volume_id FROM ossea_volumes v LEFT JOIN device_mappings m ON m.volume_id = v.volume_id
        WHERE m.vm_id = @VmId OR v.vm_id = @VmId
        ORDER BY v.volume_id
        """;
    private const string ManagedVolumeIdsSql = "SELECT volume_id FROM ossea_volumes WHERE volume_id IN @Ids";
    private const string SetOperationVmSql = "UPDATE volume_operations SET vm_id = @VmId, updated_at = @At WHERE id = @Id";

    // The request column holds the command as JSON (web naming): osseaConfigId, name, owner.
    // A row with no vm_id yet is a create whose answer was lost: it still proves who asked for the name.
    private const string CreatedForOwnerSql = """
        SELECT COUNT(*) FROM volume_operations
        WHERE type = @Type
          AND JSON_VALUE(request, '$.osseaConfigId') = @OsseaConfigId
          AND JSON_VALUE(request, '$.name') = @Name
          AND JSON_VALUE(request, '$.owner') = @Owner
          AND (vm_id IS NULL OR vm_id = @VmId)
          AND id <> @ExceptOperation
        """;

    public async Task<IReadOnlyList<string>> ManagedVolumesOnVmAsync(string vmId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<string>(new CommandDefinition(ManagedVolumesOnVmSql, new { VmId = vmId }, cancellationToken: ct))).AsList();
    }

    /// <summary>Those of <paramref name="volumeIds"/> that are ossea_volumes rows (volumes MigrateKit manages).</summary>
    public async Task<IReadOnlySet<string>> ManagedVolumeIdsAsync(IReadOnlyCollection<string> volumeIds, CancellationToken ct)
    {
        if (volumeIds.Count == 0)
        {
            return new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        }
        await using var conn = await dataSource.OpenAsync(ct);
        var found = await conn.QueryAsync<string>(new CommandDefinition(ManagedVolumeIdsSql, new { Ids = volumeIds }, cancellationToken: ct));
        return found.ToHashSet(StringComparer.OrdinalIgnoreCase);
    }

    public async Task SetOperationVmAsync(Guid operationId, string vmId, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(SetOperationVmSql, new { Id = operationId, VmId = vmId, At = at }, cancellationToken: ct));
    }

    /// <summary>
    /// Whether an earlier CreateVirtualMachine (other than <paramref name="exceptOperation"/>) asked for
    /// VM <paramref name="name"/> for <paramref name="owner"/> and either got <paramref name="vmId"/> or never learnt its id.
    /// </summary>
    public async Task<bool> WasCreatedForAsync(int osseaConfigId, string name, string owner, string vmId, Guid exceptOperation, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var count = await conn.ExecuteScalarAsync<long>(new CommandDefinition(CreatedForOwnerSql, new
        {
            Type = CreateOperation,
            OsseaConfigId = osseaConfigId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            Name = name,
            Owner = owner,
            VmId = vmId,
            ExceptOperation = exceptOperation,
        }, cancellationToken: ct));
        return count > 0;
    }
}
