using Dapper;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Replication.Contracts;
using MySqlConnector;

namespace MigrateKit.Modules.Replication.Data;

internal sealed class ReplicationJobRow
{
    public Guid Id { get; init; }
    public string SourceVmId { get; init; } = "";
    public string SourceVmName { get; init; } = "";
    public string? SourceVmPath { get; init; }
    public int? VmaAgentId { get; init; }
    public int OsseaConfigId { get; init; }
    public string ReplicationType { get; init; } = "initial";
    public string Status { get; init; } = "";
    public decimal ProgressPercent { get; init; }
    public string? CurrentOperation { get; init; }
    public long BytesTransferred { get; init; }
    public long TotalBytes { get; init; }
    public long TransferSpeedBps { get; init; }
    public string? ErrorMessage { get; init; }
    public string? ChangeId { get; init; }
    public long? BandwidthLimitBps { get; init; }
    public int? ScheduleIntervalSeconds { get; init; }
    public bool VerifyAfterSync { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? StartedAt { get; init; }
    public DateTime? CompletedAt { get; init; }
    public DateTime? LastSyncCompletedAt { get; init; }
    public DateTime? NextSyncAt { get; init; }

    public ReplicationJobView ToView(string? agent, IReadOnlyList<VmDiskView> disks) => new(Id, SourceVmId, SourceVmName, SourceVmPath, agent,
        OsseaConfigId, ReplicationType, Status, ProgressPercent, CurrentOperation, BytesTransferred, TotalBytes, TransferSpeedBps,
        ErrorMessage, ChangeId, BandwidthLimitBps, ScheduleIntervalSeconds, VerifyAfterSync, CreatedAt, StartedAt, CompletedAt,
        LastSyncCompletedAt, NextSyncAt, disks);
}

/// <summary>All SQL of the Replication module (replication_jobs, vm_disks, cbt_history).</summary>
internal sealed class ReplicationStore(MySqlDataSource dataSource)
{
    private const string JobColumns = """
        j.id AS Id, j.source_vm_id AS SourceVmId, j.source_vm_name AS SourceVmName, j.source_vm_path AS SourceVmPath,
        j.vma_agent_id AS VmaAgentId, j.ossea_config_id AS OsseaConfigId, j.replication_type AS ReplicationType,
        j.status AS Status, j.progress_percent AS ProgressPercent, j.current_operation AS CurrentOperation,
        j.bytes_transferred AS BytesTransferred, j.total_bytes AS TotalBytes, j.transfer_speed_bps AS TransferSpeedBps,
        j.error_message AS ErrorMessage, j.change_id AS ChangeId, j.bandwidth_limit_bps AS BandwidthLimitBps,
        j.schedule_interval_seconds AS ScheduleIntervalSeconds, j.verify_after_sync AS VerifyAfterSync, j.created_at AS CreatedAt,
        j.started_at AS StartedAt, j.completed_at AS CompletedAt, j.last_sync_completed_at AS LastSyncCompletedAt, j.next_sync_at AS NextSyncAt
        """;

    private const string DiskColumns = """
        id AS Id, disk_id AS DiskId, vmdk_path AS VmdkPath, capacity_bytes AS CapacityBytes, label AS Label, unit_number AS UnitNumber,
        ossea_volume_id AS OsseaVolumeId, disk_change_id AS DiskChangeId, sync_status AS SyncStatus,
        sync_progress_percent AS SyncProgressPercent, bytes_synced AS BytesSynced
        """;

    private const string InsertJobSql = """
        INSERT INTO replication_jobs (id, source_vm_id, source_vm_name, source_vm_path, replication_type, status, ossea_config_id,
            vma_agent_id, bandwidth_limit_bps, schedule_interval_seconds, verify_after_sync, sync_requested_at, created_at, updated_at)
        VALUES (@Id, @SourceVmId, @SourceVmName, @SourceVmPath, 'initial', 'pending', @OsseaConfigId,
            @VmaAgentId, @BandwidthLimitBps, @ScheduleIntervalSeconds, @VerifyAfterSync, @At, @At, @At)
        """;

    private const string GetJobSql = $"SELECT {JobColumns} FROM replication_jobs j WHERE j.id = @Id";
    private const string ListJobsSql = $"SELECT {JobColumns} FROM replication_jobs j ORDER BY j.created_at DESC";
    private const string DisksOfJobSql = $"SELECT {DiskColumns} FROM vm_disks WHERE job_id = @JobId ORDER BY unit_number, id";
    private const string RequestSyncSql = "UPDATE replication_jobs SET sync_requested_at = @At, updated_at = @At WHERE id = @Id";
    private const string SetStatusSql = """
        UPDATE replication_jobs SET status = @Status, current_operation = @Operation, updated_at = @At,
               completed_at = IF(@Status IN ('cancelled', 'failed', 'failed_over'), @At, completed_at)
        WHERE id = @Id
        """;
    private const string DeleteJobSql = "DELETE FROM replication_jobs WHERE id = @Id";

    public async Task InsertJobAsync(Guid id, StartReplicationCommand c, string vmName, int agentId, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertJobSql, new
        {
            Id = id, SourceVmId = c.SourceVmKey, SourceVmName = vmName, SourceVmPath = c.VmPath, c.OsseaConfigId, VmaAgentId = agentId,
            c.BandwidthLimitBps, c.ScheduleIntervalSeconds, c.VerifyAfterSync, At = at,
        }, cancellationToken: ct));
    }

    /// <summary>The job and its disks; agent names come from the Agents module (its table is not ours).</summary>
    public async Task<(ReplicationJobRow Job, IReadOnlyList<VmDiskView> Disks)?> GetAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var job = await conn.QuerySingleOrDefaultAsync<ReplicationJobRow>(new CommandDefinition(GetJobSql, new { Id = id }, cancellationToken: ct));
        if (job is null)
        {
            return null;
        }
        var disks = await conn.QueryAsync<VmDiskView>(new CommandDefinition(DisksOfJobSql, new { JobId = id }, cancellationToken: ct));
        return (job, disks.AsList());
    }

    public async Task<IReadOnlyList<(ReplicationJobRow Job, IReadOnlyList<VmDiskView> Disks)>> ListAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var jobs = (await conn.QueryAsync<ReplicationJobRow>(new CommandDefinition(ListJobsSql, cancellationToken: ct))).AsList();
        var result = new List<(ReplicationJobRow, IReadOnlyList<VmDiskView>)>(jobs.Count);
        foreach (var job in jobs)
        {
            var disks = await conn.QueryAsync<VmDiskView>(new CommandDefinition(DisksOfJobSql, new { JobId = job.Id }, cancellationToken: ct));
            result.Add((job, disks.AsList()));
        }
        return result;
    }

    public async Task RequestSyncAsync(Guid id, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(RequestSyncSql, new { Id = id, At = at }, cancellationToken: ct));
    }

    public async Task SetStatusAsync(Guid id, string status, string? operation, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(SetStatusSql, new { Id = id, Status = status, Operation = operation, At = at }, cancellationToken: ct));
    }

    public async Task DeleteJobAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(DeleteJobSql, new { Id = id }, cancellationToken: ct));
    }
}
