using Dapper;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Volume.Contracts;
using MySqlConnector;

namespace MigrateKit.Modules.Volume.Data;

internal sealed record VolumeRow(
    long Id, string VolumeId, string VolumeName, long Size, string Status, string? DevicePath, int OsseaConfigId, string? VmId,
    string VolumeType, string? DiskOfferingId, string? ZoneId, DateTime CreatedAt, DateTime UpdatedAt);

internal sealed record MappingRow(
    long Id, string VolumeId, string VmId, string OperationMode, int? CloudstackDeviceId, string? DevicePath, string? StableDevicePath,
    string CloudstackState, string LinuxState, long Size, DateTime? LastSync, DateTime CreatedAt, DateTime UpdatedAt)
{
    public DeviceMappingView ToView() => new(VolumeId, VmId, OperationMode, CloudstackDeviceId, DevicePath, StableDevicePath,
        CloudstackState, LinuxState, Size, LastSync);
}

internal sealed record ExportRow(long Id, string VolumeId, string ExportName, string DevicePath, int Port, string Status)
{
    public NbdExportView ToView() => new(VolumeId, ExportName, DevicePath, Port, Status);
}

/// <summary>
/// OSSEA's async job status as cloudstack_job_tracking.cloudstack_status keeps it (OSSEA answers
/// <c>jobstatus</c> 0, 1 or 2).
/// </summary>
internal static class CloudstackJobStatuses
{
    public const string InProgress = "in_progress";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";

    /// <summary>Every state; V0025's CHECK on cloudstack_job_tracking.cloudstack_status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [InProgress, Succeeded, Failed];
}

/// <summary>All SQL of the Volume module's volume tables (ossea_volumes, device_mappings, nbd_exports, volume_operations, cloudstack_job_tracking).</summary>
internal sealed class VolumeStore(MySqlDataSource dataSource)
{
    private const string VolumeColumns = """
        id AS Id, volume_id AS VolumeId, volume_name AS VolumeName, size AS Size, status AS Status, device_path AS DevicePath,
        ossea_config_id AS OsseaConfigId, vm_id AS VmId, volume_type AS VolumeType, disk_offering_id AS DiskOfferingId,
        zone_id AS ZoneId, created_at AS CreatedAt, updated_at AS UpdatedAt
        """;

    private const string MappingColumns = """
        id AS Id, volume_id AS VolumeId, vm_id AS VmId, operation_mode AS OperationMode, cloudstack_device_id AS CloudstackDeviceId,
        device_path AS DevicePath, stable_device_path AS StableDevicePath, cloudstack_state AS CloudstackState,
        linux_state AS LinuxState, size AS Size, last_sync AS LastSync, created_at AS CreatedAt, updated_at AS UpdatedAt
        """;

    private const string ExportColumns = """
        id AS Id, volume_id AS VolumeId, export_name AS ExportName, device_path AS DevicePath, port AS Port, status AS Status
        """;

    private const string InsertVolumeSql = """
        INSERT INTO ossea_volumes (volume_id, volume_name, size, status, ossea_config_id, volume_type, disk_offering_id, zone_id, created_at, updated_at)
        VALUES (@VolumeId, @VolumeName, @Size, @Status, @OsseaConfigId, @VolumeType, @DiskOfferingId, @ZoneId, @At, @At)
        """;
    private const string GetVolumeSql = $"SELECT {VolumeColumns} FROM ossea_volumes WHERE volume_id = @VolumeId";
    private const string GetVolumeByRowIdSql = $"SELECT {VolumeColumns} FROM ossea_volumes WHERE id = @Id";
    private const string ListVolumesSql = $"SELECT {VolumeColumns} FROM ossea_volumes ORDER BY id";
    private const string VolumeNameExistsSql = "SELECT COUNT(*) FROM ossea_volumes WHERE ossea_config_id = @OsseaConfigId AND volume_name = @VolumeName";
    private const string UpdateVolumeStateSql = """
        UPDATE ossea_volumes SET status = @Status, vm_id = @VmId, device_path = @DevicePath, size = @Size, updated_at = @At WHERE volume_id = @VolumeId
        """;
    private const string DeleteVolumeSql = "DELETE FROM ossea_volumes WHERE volume_id = @VolumeId";

    private const string GetMappingSql = $"SELECT {MappingColumns} FROM device_mappings WHERE volume_id = @VolumeId";
    private const string ListMappingsSql = $"SELECT {MappingColumns} FROM device_mappings ORDER BY id";
    private const string InsertMappingSql = """
        INSERT INTO device_mappings (volume_id, vm_id, operation_mode, cloudstack_device_id, device_path, stable_device_path,
                                     cloudstack_state, linux_state, size, last_sync, created_at, updated_at)
        VALUES (@VolumeId, @VmId, @OperationMode, @CloudstackDeviceId, @DevicePath, @StableDevicePath,
                @CloudstackState, @LinuxState, @Size, @At, @At, @At)
        """;
    private const string UpdateMappingDeviceSql = """
        UPDATE device_mappings SET device_path = @DevicePath, stable_device_path = @StableDevicePath, cloudstack_state = @CloudstackState,
               linux_state = @LinuxState, last_sync = @At, updated_at = @At
        WHERE volume_id = @VolumeId
        """;
    private const string DeleteMappingSql = "DELETE FROM device_mappings WHERE volume_id = @VolumeId";

    private const string GetExportSql = $"SELECT {ExportColumns} FROM nbd_exports WHERE volume_id = @VolumeId";
    private const string ListExportsSql = $"SELECT {ExportColumns} FROM nbd_exports ORDER BY id";
    private const string UpsertExportSql = $"""
        INSERT INTO nbd_exports (volume_id, export_name, device_path, port, status, created_at, updated_at)
        VALUES (@VolumeId, @ExportName, @DevicePath, @Port, '{NbdExportStatuses.Active}', @At, @At)
        ON DUPLICATE KEY UPDATE export_name = VALUES(export_name), device_path = VALUES(device_path), port = VALUES(port),
            status = '{NbdExportStatuses.Active}', updated_at = VALUES(updated_at)
        """;
    private const string UpdateExportDeviceSql = "UPDATE nbd_exports SET device_path = @DevicePath, updated_at = @At WHERE volume_id = @VolumeId";
    private const string DeleteExportSql = "DELETE FROM nbd_exports WHERE volume_id = @VolumeId";

    private const string InsertOperationSql = """
        INSERT INTO volume_operations (id, type, status, volume_id, vm_id, request, job_id, correlation_id, created_at, updated_at)
        VALUES (@Id, @Type, 'running', @VolumeId, @VmId, @Request, @JobId, @CorrelationId, @At, @At)
        """;
    private const string EndOperationSql = """
        UPDATE volume_operations SET status = @Status, volume_id = COALESCE(@VolumeId, volume_id), response = @Response, error = @Error,
               updated_at = @At, completed_at = @At
        WHERE id = @Id
        """;
    private const string ListOperationsSql = """
        SELECT id AS Id, type AS Type, status AS Status, volume_id AS VolumeId, vm_id AS VmId, request AS Request, response AS Response,
               error AS Error, job_id AS JobId, correlation_id AS CorrelationId, created_at AS CreatedAt, completed_at AS CompletedAt
        FROM volume_operations WHERE (@VolumeId IS NULL OR volume_id = @VolumeId) ORDER BY created_at DESC, id LIMIT @Limit
        """;

    private const string InsertCloudstackJobSql = $"""
        INSERT INTO cloudstack_job_tracking (cloudstack_job_id, cloudstack_command, cloudstack_status, operation_type, correlation_id,
                                             parent_job_id, status, created_at, updated_at)
        VALUES (@JobId, @Command, '{CloudstackJobStatuses.InProgress}', @OperationType, @CorrelationId, @ParentJobId, 'pending', @At, @At)
        ON DUPLICATE KEY UPDATE updated_at = VALUES(updated_at)
        """;
    private const string EndCloudstackJobSql = """
        UPDATE cloudstack_job_tracking SET cloudstack_status = @CloudstackStatus, status = @Status, error_message = @Error, result = @Result,
               updated_at = @At, completed_at = @At
        WHERE cloudstack_job_id = @JobId
        """;

    public Task<VolumeRow?> GetVolumeAsync(string volumeId, CancellationToken ct) => QuerySingleAsync<VolumeRow>(GetVolumeSql, new { VolumeId = volumeId }, ct);

    public Task<VolumeRow?> GetVolumeByRowIdAsync(long id, CancellationToken ct) => QuerySingleAsync<VolumeRow>(GetVolumeByRowIdSql, new { Id = id }, ct);

    public Task<IReadOnlyList<VolumeRow>> ListVolumesAsync(CancellationToken ct) => QueryAsync<VolumeRow>(ListVolumesSql, null, ct);

    public async Task<bool> VolumeNameExistsAsync(int osseaConfigId, string name, CancellationToken ct) =>
        await ScalarAsync<long>(VolumeNameExistsSql, new { OsseaConfigId = osseaConfigId, VolumeName = name }, ct) > 0;

    public Task InsertVolumeAsync(VolumeRow row, CancellationToken ct) => ExecuteAsync(InsertVolumeSql, new
    {
        row.VolumeId, row.VolumeName, row.Size, row.Status, row.OsseaConfigId, row.VolumeType, row.DiskOfferingId, row.ZoneId, At = row.CreatedAt,
    }, ct);

    public Task UpdateVolumeStateAsync(string volumeId, string status, string? vmId, string? devicePath, long size, DateTime at, CancellationToken ct) =>
        ExecuteAsync(UpdateVolumeStateSql, new { VolumeId = volumeId, Status = status, VmId = vmId, DevicePath = devicePath, Size = size, At = at }, ct);

    public Task DeleteVolumeAsync(string volumeId, CancellationToken ct) => ExecuteAsync(DeleteVolumeSql, new { VolumeId = volumeId }, ct);

    public Task<MappingRow?> GetMappingAsync(string volumeId, CancellationToken ct) => QuerySingleAsync<MappingRow>(GetMappingSql, new { VolumeId = volumeId }, ct);

    public Task<IReadOnlyList<MappingRow>> ListMappingsAsync(CancellationToken ct) => QueryAsync<MappingRow>(ListMappingsSql, null, ct);

    public Task InsertMappingAsync(MappingRow row, CancellationToken ct) => ExecuteAsync(InsertMappingSql, new
    {
        row.VolumeId, row.VmId, row.OperationMode, row.CloudstackDeviceId, row.DevicePath, row.StableDevicePath,
        row.CloudstackState, row.LinuxState, row.Size, At = row.CreatedAt,
    }, ct);

    public Task UpdateMappingDeviceAsync(string volumeId, string? devicePath, string? stablePath, string cloudstackState, string linuxState, DateTime at, CancellationToken ct) =>
        ExecuteAsync(UpdateMappingDeviceSql, new
        {
            VolumeId = volumeId, DevicePath = devicePath, StableDevicePath = stablePath, CloudstackState = cloudstackState, LinuxState = linuxState, At = at,
        }, ct);

    public Task DeleteMappingAsync(string volumeId, CancellationToken ct) => ExecuteAsync(DeleteMappingSql, new { VolumeId = volumeId }, ct);

    public Task<ExportRow?> GetExportAsync(string volumeId, CancellationToken ct) => QuerySingleAsync<ExportRow>(GetExportSql, new { VolumeId = volumeId }, ct);

    public Task<IReadOnlyList<ExportRow>> ListExportsAsync(CancellationToken ct) => QueryAsync<ExportRow>(ListExportsSql, null, ct);

    public Task UpsertExportAsync(string volumeId, string exportName, string devicePath, int port, DateTime at, CancellationToken ct) =>
        ExecuteAsync(UpsertExportSql, new { VolumeId = volumeId, ExportName = exportName, DevicePath = devicePath, Port = port, At = at }, ct);

    public Task UpdateExportDeviceAsync(string volumeId, string devicePath, DateTime at, CancellationToken ct) =>
        ExecuteAsync(UpdateExportDeviceSql, new { VolumeId = volumeId, DevicePath = devicePath, At = at }, ct);

    public Task DeleteExportAsync(string volumeId, CancellationToken ct) => ExecuteAsync(DeleteExportSql, new { VolumeId = volumeId }, ct);

    public Task InsertOperationAsync(Guid id, string type, string? volumeId, string? vmId, string requestJson, Guid? jobId, Guid? correlationId, DateTime at, CancellationToken ct) =>
        ExecuteAsync(InsertOperationSql, new
        {
            Id = id, Type = type, VolumeId = volumeId, VmId = vmId, Request = requestJson, JobId = jobId, CorrelationId = correlationId, At = at,
        }, ct);

    public Task EndOperationAsync(Guid id, string status, string? volumeId, string? responseJson, string? error, DateTime at, CancellationToken ct) =>
        ExecuteAsync(EndOperationSql, new { Id = id, Status = status, VolumeId = volumeId, Response = responseJson, Error = error, At = at }, ct);

    public Task<IReadOnlyList<VolumeOperationView>> ListOperationsAsync(string? volumeId, int limit, CancellationToken ct) =>
        QueryAsync<VolumeOperationView>(ListOperationsSql, new { VolumeId = volumeId, Limit = limit }, ct);

    public Task InsertCloudstackJobAsync(string jobId, string command, string operationType, Guid? correlationId, Guid? parentJobId, DateTime at, CancellationToken ct) =>
        ExecuteAsync(InsertCloudstackJobSql, new
        {
            JobId = jobId, Command = command, OperationType = operationType, CorrelationId = correlationId, ParentJobId = parentJobId, At = at,
        }, ct);

    public Task EndCloudstackJobAsync(string jobId, string cloudstackStatus, string status, string? error, string? result, DateTime at, CancellationToken ct) =>
        ExecuteAsync(EndCloudstackJobSql, new { JobId = jobId, CloudstackStatus = cloudstackStatus, Status = status, Error = error, Result = result, At = at }, ct);

    private async Task<T?> QuerySingleAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    private async Task<IReadOnlyList<T>> QueryAsync<T>(string sql, object? args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct))).AsList();
    }

    private async Task<T?> ScalarAsync<T>(string sql, object args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteScalarAsync<T>(new CommandDefinition(sql, args, cancellationToken: ct));
    }

    private async Task ExecuteAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }
}
