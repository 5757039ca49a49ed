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
    public string ReplicationType { get; init; } = ReplicationTypes.Initial;
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
    public string? SnapshotId { get; init; }
    public string? CurrentSyncId { get; init; }
    public string? HoldReason { get; init; }
    public DateTime? HeldAt { get; init; }

    public ReplicationJobView ToView(string? agent, IReadOnlyList<VmDiskView> disks) => new(Id, SourceVmId, SourceVmName, SourceVmPath, agent,
        OsseaConfigId, ReplicationType, Status, ProgressPercent, CurrentOperation, BytesTransferred, TotalBytes, TransferSpeedBps,
        ErrorMessage, ChangeId, BandwidthLimitBps, ScheduleIntervalSeconds, VerifyAfterSync, CreatedAt, StartedAt, CompletedAt,
        LastSyncCompletedAt, NextSyncAt, disks, HoldReason);
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
        j.started_at AS StartedAt, j.completed_at AS CompletedAt, j.last_sync_completed_at AS LastSyncCompletedAt, j.next_sync_at AS NextSyncAt,
        j.snapshot_id AS SnapshotId, j.current_sync_id AS CurrentSyncId, j.hold_reason AS HoldReason, j.held_at AS HeldAt
        """;

    private const string DiskColumns = """
        id AS Id, disk_id AS DiskId, vmdk_path AS VmdkPath, capacity_bytes AS CapacityBytes, label AS Label, unit_number AS UnitNumber,
        ossea_volume_id AS OsseaVolumeId, disk_change_id AS DiskChangeId, sync_status AS SyncStatus,
        sync_progress_percent AS SyncProgressPercent, bytes_synced AS BytesSynced
        """;

    private const string InsertJobSql = $"""
        INSERT INTO replication_jobs (id, source_vm_id, source_vm_name, source_vm_path, replication_type, status, ossea_config_id,
            vma_agent_id, bandwidth_limit_bps, schedule_interval_seconds, verify_after_sync, sync_requested_at, created_at, updated_at)
        VALUES (@Id, @SourceVmId, @SourceVmName, @SourceVmPath, '{ReplicationTypes.Initial}', '{ReplicationStatuses.Pending}', @OsseaConfigId,
            @VmaAgentId, @BandwidthLimitBps, @ScheduleIntervalSeconds, @VerifyAfterSync, @At, @At, @At)
        """;

    private const string GetJobSql = $"SELECT {JobColumns} FROM replication_jobs j WHERE j.id = @Id";
    private const string ListJobsSql = $"SELECT {JobColumns} FROM replication_jobs j ORDER BY j.created_at DESC";
    private const string DisksOfJobSql = $"SELECT {DiskColumns} FROM vm_disks WHERE job_id = @JobId ORDER BY unit_number, id";
    private const string RequestSyncSql = "UPDATE replication_jobs SET sync_requested_at = @At, updated_at = @At WHERE id = @Id";
    private const string SetStatusSql = $"""
        UPDATE replication_jobs SET status = @Status, current_operation = @Operation, updated_at = @At,
               completed_at = IF(@Status IN ('{ReplicationStatuses.Cancelled}', '{ReplicationStatuses.Failed}', '{ReplicationStatuses.FailedOver}'), @At, completed_at)
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

    // ---- The replication worker: picking, claiming and recording syncs. ----

    // A held job starts no sync; a job already 'replicating' (an OMA restart, a final sync) is resumed regardless.
    private const string DueJobsSql = $"""
        SELECT j.id FROM replication_jobs j
        WHERE j.status = '{ReplicationStatuses.Replicating}'
           OR (j.hold_reason IS NULL AND (
                  j.status = '{ReplicationStatuses.Pending}'
               OR (j.status IN ('{ReplicationStatuses.Idle}', '{ReplicationStatuses.Failed}') AND j.sync_requested_at IS NOT NULL)
               OR (j.status = '{ReplicationStatuses.Idle}' AND j.next_sync_at <= @Now)))
        ORDER BY j.created_at
        LIMIT 200
        """;
    // The hold is checked in the same statement as the status: a hold and a claim cannot both win.
    private const string ClaimSql = $"""
        UPDATE replication_jobs SET status = '{ReplicationStatuses.Replicating}', started_at = @At, completed_at = NULL, error_message = NULL,
               transfer_speed_bps = 0, current_operation = 'starting', updated_at = @At
        WHERE id = @Id AND status = @Expected
          AND (hold_reason IS NULL OR status = '{ReplicationStatuses.Replicating}' OR hold_reason = @Holder)
        """;
    private const string StatusSql = "SELECT status FROM replication_jobs WHERE id = @Id";
    private const string SetOperationSql = "UPDATE replication_jobs SET current_operation = @Operation, updated_at = @At WHERE id = @Id";
    private const string DiscoveredSql = """
        UPDATE replication_jobs SET source_vm_id = @Moref, source_vm_name = @Name, source_vm_path = COALESCE(@Path, source_vm_path),
               updated_at = @At
        WHERE id = @Id
        """;
    private const string UpsertDiskSql = """
        INSERT INTO vm_disks (job_id, disk_id, vmdk_path, size_gb, datastore, unit_number, label, capacity_bytes, provisioning_type,
                              created_at, updated_at)
        VALUES (@JobId, @DiskId, @VmdkPath, @SizeGb, @Datastore, @UnitNumber, @Label, @CapacityBytes, @ProvisioningType, @At, @At)
        ON DUPLICATE KEY UPDATE vmdk_path = VALUES(vmdk_path), size_gb = VALUES(size_gb), datastore = VALUES(datastore),
               unit_number = VALUES(unit_number), label = VALUES(label), capacity_bytes = VALUES(capacity_bytes),
               provisioning_type = VALUES(provisioning_type), updated_at = VALUES(updated_at)
        """;
    private const string SyncDisksSql = """
        SELECT id AS Id, disk_id AS DiskId, capacity_bytes AS CapacityBytes, unit_number AS UnitNumber, ossea_volume_id AS OsseaVolumeId,
               disk_change_id AS DiskChangeId, sync_status AS SyncStatus, sync_checkpoint AS SyncCheckpoint,
               nbd_export_name AS NbdExportName, full_copy_reason AS FullCopyReason, bytes_synced AS BytesSynced,
               extents_synced AS ExtentsSynced, verify_mismatch_ranges AS VerifyMismatchRanges
        FROM vm_disks WHERE job_id = @JobId ORDER BY unit_number, id
        """;
    private const string SetDiskTargetSql = """
        UPDATE vm_disks SET ossea_volume_id = @VolumeRowId, nbd_export_name = @ExportName, updated_at = @At WHERE id = @Id
        """;
    private const string BeginSnapshotJobSql = """
        UPDATE replication_jobs SET snapshot_id = @SnapshotId, current_sync_id = NULL, progress_percent = 0, bytes_transferred = 0,
               updated_at = @At
        WHERE id = @Id
        """;
    private const string BeginSnapshotDisksSql = $"""
        UPDATE vm_disks SET sync_status = '{DiskSyncStatuses.Pending}', sync_checkpoint = 0, sync_progress_percent = 0, bytes_synced = 0, extents_synced = 0,
               updated_at = @At
        WHERE job_id = @Id
        """;
    private const string SetCurrentSyncSql = "UPDATE replication_jobs SET current_sync_id = @SyncId, updated_at = @At WHERE id = @Id";
    private const string DiskProgressSql = $"""
        UPDATE vm_disks SET sync_status = @Status, sync_progress_percent = @Percent, bytes_synced = @Bytes, extents_synced = @Extents,
               sync_checkpoint = GREATEST(sync_checkpoint, @Checkpoint), updated_at = @At
        WHERE id = @Id AND sync_status <> '{DiskSyncStatuses.Completed}'
        """;
    private const string JobProgressSql = """
        UPDATE replication_jobs j
        JOIN (SELECT job_id, SUM(capacity_bytes) AS total, SUM(bytes_synced) AS done,
                     SUM(sync_progress_percent * capacity_bytes) / NULLIF(SUM(capacity_bytes), 0) AS pct
              FROM vm_disks WHERE job_id = @Id GROUP BY job_id) d ON d.job_id = j.id
        SET j.total_bytes = d.total, j.bytes_transferred = d.done, j.progress_percent = LEAST(100, COALESCE(d.pct, 0)),
            j.transfer_speed_bps = @Rate, j.updated_at = @At
        WHERE j.id = @Id
        """;
    private const string CompleteDiskSql = $"""
        UPDATE vm_disks SET disk_change_id = @NewChangeId, sync_status = '{DiskSyncStatuses.Completed}', sync_progress_percent = 100,
               sync_checkpoint = capacity_bytes, full_copy_reason = NULL, bytes_synced = @Bytes, extents_synced = @Extents, updated_at = @At
        WHERE id = @Id AND sync_status <> '{DiskSyncStatuses.Completed}'
        """;
    private const string InsertHistorySql = """
        INSERT INTO cbt_history (job_id, vm_disk_id, disk_id, sync_type, previous_change_id, change_id, bytes_transferred, extents_copied,
                                 reason, sync_job_id, created_at)
        VALUES (@JobId, @VmDiskId, @DiskId, @SyncType, @PreviousChangeId, @ChangeId, @Bytes, @Extents, @Reason, @SyncJobId, @At)
        """;
    private const string JobChangeIdSql = """
        UPDATE replication_jobs SET previous_change_id = change_id, change_id = @ChangeId, updated_at = @At WHERE id = @Id
        """;
    private const string CbtResetDiskSql = $"""
        UPDATE vm_disks SET disk_change_id = NULL, full_copy_reason = @Reason, sync_status = '{DiskSyncStatuses.Pending}', sync_checkpoint = 0,
               sync_progress_percent = 0, bytes_synced = 0, extents_synced = 0, updated_at = @At
        WHERE id = @Id
        """;
    private const string FinishRunSql = $"""
        UPDATE replication_jobs SET status = '{ReplicationStatuses.Idle}', replication_type = '{ReplicationTypes.Incremental}', current_operation = NULL, snapshot_id = NULL,
               current_sync_id = NULL, completed_at = @At, last_sync_completed_at = @At, progress_percent = 100, transfer_speed_bps = 0,
               next_sync_at = IF(schedule_interval_seconds IS NULL, NULL, DATE_ADD(@At, INTERVAL schedule_interval_seconds SECOND)),
               sync_requested_at = IF(sync_requested_at <= @RunStartedAt, NULL, sync_requested_at), updated_at = @At
        WHERE id = @Id AND status = '{ReplicationStatuses.Replicating}'
        """;
    private const string FailRunSql = $"""
        UPDATE replication_jobs SET status = '{ReplicationStatuses.Failed}', error_message = @Error, current_operation = NULL, completed_at = @At,
               transfer_speed_bps = 0, sync_requested_at = IF(sync_requested_at <= @RunStartedAt, NULL, sync_requested_at), updated_at = @At
        WHERE id = @Id AND status = '{ReplicationStatuses.Replicating}'
        """;
    // A successful run copied every present disk's recorded mismatches (with CBT's changes): they are repaired.
    private const string ClearMismatchesSql = $"""
        UPDATE vm_disks SET verify_mismatch_ranges = NULL WHERE job_id = @Id AND sync_status = '{DiskSyncStatuses.Completed}' AND verify_mismatch_ranges IS NOT NULL
        """;
    private const string SetMismatchesSql = "UPDATE vm_disks SET verify_mismatch_ranges = @Ranges, updated_at = @At WHERE id = @Id";
    private const string CompletionBaseSql = """
        SELECT sync_type AS SyncType, previous_change_id AS PreviousChangeId FROM cbt_history
        WHERE vm_disk_id = @Id AND change_id = @ChangeId ORDER BY id DESC LIMIT 1
        """;
    private const string ClearSnapshotSql = """
        UPDATE replication_jobs SET snapshot_id = NULL, current_sync_id = NULL, transfer_speed_bps = 0, updated_at = @At WHERE id = @Id
        """;

    public async Task<IReadOnlyList<Guid>> DueJobsAsync(DateTime now, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<Guid>(new CommandDefinition(DueJobsSql, new { Now = now }, cancellationToken: ct))).AsList();
    }

    /// <summary>Moves a job from <paramref name="expected"/> to replicating; false when someone else changed it first.</summary>
    /// <summary>
    /// Moves a job from <paramref name="expected"/> to replicating; false when someone else changed it first
    /// or it is held (by anyone but <paramref name="holder"/>).
    /// </summary>
    public async Task<bool> ClaimAsync(Guid id, string expected, string? holder, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(ClaimSql, new { Id = id, Expected = expected, Holder = holder, At = at },
            cancellationToken: ct)) == 1;
    }

    public async Task<ReplicationJobRow?> GetJobAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<ReplicationJobRow>(new CommandDefinition(GetJobSql, new { Id = id }, cancellationToken: ct));
    }

    public async Task<string?> StatusAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string>(new CommandDefinition(StatusSql, new { Id = id }, cancellationToken: ct));
    }

    public Task SetOperationAsync(Guid id, string operation, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetOperationSql, new { Id = id, Operation = operation, At = at }, ct);

    /// <summary>Records what vCenter calls the VM; a duplicate key means another live job replicates it.</summary>
    public Task SetDiscoveredAsync(Guid id, string moref, string name, string? path, DateTime at, CancellationToken ct) =>
        ExecuteAsync(DiscoveredSql, new { Id = id, Moref = moref, Name = name, Path = path, At = at }, ct);

    public async Task UpsertDisksAsync(Guid jobId, IEnumerable<DiskSpecRow> disks, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var d in disks)
        {
            await conn.ExecuteAsync(new CommandDefinition(UpsertDiskSql, new
            {
                JobId = jobId, d.DiskId, d.VmdkPath, SizeGb = (int)((d.CapacityBytes + (1L << 30) - 1) >> 30), d.Datastore, d.UnitNumber,
                d.Label, d.CapacityBytes, d.ProvisioningType, At = at,
            }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
    }

    public async Task<IReadOnlyList<SyncDiskRow>> SyncDisksAsync(Guid jobId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<SyncDiskRow>(new CommandDefinition(SyncDisksSql, new { JobId = jobId }, cancellationToken: ct))).AsList();
    }

    public Task SetDiskTargetAsync(long diskId, long volumeRowId, string exportName, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetDiskTargetSql, new { Id = diskId, VolumeRowId = volumeRowId, ExportName = exportName, At = at }, ct);

    /// <summary>A new snapshot starts a new sync: every disk starts over from offset 0 of it.</summary>
    public async Task BeginSnapshotAsync(Guid id, string snapshotId, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(BeginSnapshotDisksSql, new { Id = id, At = at }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(BeginSnapshotJobSql, new { Id = id, SnapshotId = snapshotId, At = at }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public Task SetCurrentSyncAsync(Guid id, string? syncId, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetCurrentSyncSql, new { Id = id, SyncId = syncId, At = at }, ct);

    public async Task RecordProgressAsync(Guid id, IEnumerable<DiskProgressRow> disks, long rateBps, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        foreach (var d in disks)
        {
            await conn.ExecuteAsync(new CommandDefinition(DiskProgressSql, new
            {
                d.Id, d.Status, Percent = Math.Clamp(d.Percent, 0m, 100m), d.Bytes, d.Extents, d.Checkpoint, At = at,
            }, tx, cancellationToken: ct));
        }
        await conn.ExecuteAsync(new CommandDefinition(JobProgressSql, new { Id = id, Rate = rateBps, At = at }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// A disk finished: its new change id, its status and its history row in one transaction, so a
    /// crash cannot leave a change id without history or the other way round. False when it was already recorded.
    /// </summary>
    public async Task<bool> CompleteDiskAsync(Guid jobId, SyncDiskRow disk, DiskCompletion done, Guid syncJobId, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var changed = await conn.ExecuteAsync(new CommandDefinition(CompleteDiskSql, new
        {
            disk.Id, done.NewChangeId, done.Bytes, done.Extents, At = at,
        }, tx, cancellationToken: ct));
        if (changed == 0)
        {
            return false;
        }
        await conn.ExecuteAsync(new CommandDefinition(InsertHistorySql, new
        {
            JobId = jobId, VmDiskId = disk.Id, disk.DiskId, SyncType = done.Full ? CbtSyncTypes.Full : CbtSyncTypes.Incremental, PreviousChangeId = disk.DiskChangeId,
            ChangeId = done.NewChangeId, done.Bytes, done.Extents, done.Reason, SyncJobId = syncJobId, At = at,
        }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(JobChangeIdSql, new { Id = jobId, ChangeId = done.NewChangeId, At = at }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>vCenter rejected the disk's change id: set it aside (history row with the reason) and start the disk over.</summary>
    public async Task RecordCbtResetAsync(Guid jobId, SyncDiskRow disk, string rejectedChangeId, string reason, Guid syncJobId, DateTime at,
        CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(CbtResetDiskSql, new { disk.Id, Reason = reason, At = at }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(InsertHistorySql, new
        {
            JobId = jobId, VmDiskId = disk.Id, disk.DiskId, SyncType = CbtSyncTypes.Full, PreviousChangeId = rejectedChangeId,
            ChangeId = "*", Bytes = 0L, Extents = 0L, Reason = reason, SyncJobId = syncJobId, At = at,
        }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    /// <summary>The run is done: idle, next sync scheduled, a request made during the run kept for the next one.</summary>
    public async Task<bool> FinishRunAsync(Guid id, DateTime runStartedAt, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        if (await conn.ExecuteAsync(new CommandDefinition(FinishRunSql, new { Id = id, RunStartedAt = runStartedAt, At = at }, tx, cancellationToken: ct)) != 1)
        {
            return false;
        }
        await conn.ExecuteAsync(new CommandDefinition(ClearMismatchesSql, new { Id = id }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Ranges a verification found different on this disk (JSON [{offset, length}]); null clears them.</summary>
    public Task SetMismatchesAsync(long diskId, string? rangesJson, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetMismatchesSql, new { Id = diskId, Ranges = rangesJson, At = at }, ct);

    /// <summary>How the disk reached <paramref name="changeId"/>: full, or incremental since which id (its cbt_history row).</summary>
    public async Task<(string SyncType, string? PreviousChangeId)?> CompletionBaseAsync(long diskId, string changeId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<CompletionBaseRow>(new CommandDefinition(CompletionBaseSql, new { Id = diskId, ChangeId = changeId },
            cancellationToken: ct));
        return row is null ? null : (row.SyncType, row.PreviousChangeId);
    }

    private sealed class CompletionBaseRow
    {
        public string SyncType { get; init; } = "";
        public string? PreviousChangeId { get; init; }
    }

    /// <summary>Fails the run (unless it was cancelled meanwhile); the snapshot and checkpoints stay for the next attempt.</summary>
    public Task FailRunAsync(Guid id, string error, DateTime runStartedAt, DateTime at, CancellationToken ct) =>
        ExecuteAsync(FailRunSql, new { Id = id, Error = error.Length > 4000 ? error[..4000] : error, RunStartedAt = runStartedAt, At = at }, ct);

    public Task ClearSnapshotAsync(Guid id, DateTime at, CancellationToken ct) => ExecuteAsync(ClearSnapshotSql, new { Id = id, At = at }, ct);

    // ---- What a failover needs: the source VM's spec, the hold, the final state. ----

    private const string SetSourceSpecSql = "UPDATE replication_jobs SET source_vm_spec = @Spec, updated_at = @At WHERE id = @Id";
    private const string GetSourceSpecSql = "SELECT source_vm_spec FROM replication_jobs WHERE id = @Id";
    // held_at is assigned before hold_reason (left-to-right): a repeated hold keeps its original time.
    private const string HoldSql = $"""
        UPDATE replication_jobs SET held_at = IF(hold_reason <=> @Reason, held_at, @At), hold_reason = @Reason, updated_at = @At
        WHERE id = @Id AND status <> '{ReplicationStatuses.Replicating}' AND (hold_reason IS NULL OR hold_reason = @Reason)
        """;
    private const string ReleaseSql = """
        UPDATE replication_jobs SET hold_reason = NULL, held_at = NULL, updated_at = @At WHERE id = @Id AND hold_reason = @Reason
        """;
    private const string MarkFailedOverSql = $"""
        UPDATE replication_jobs SET status = '{ReplicationStatuses.FailedOver}', current_operation = NULL, completed_at = @At, next_sync_at = NULL,
               sync_requested_at = NULL, transfer_speed_bps = 0, updated_at = @At
        WHERE id = @Id AND status <> '{ReplicationStatuses.Replicating}' AND hold_reason = @Reason
        """;

    public Task SetSourceSpecAsync(Guid id, string specJson, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetSourceSpecSql, new { Id = id, Spec = specJson, At = at }, ct);

    public async Task<string?> GetSourceSpecAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<string?>(new CommandDefinition(GetSourceSpecSql, new { Id = id }, cancellationToken: ct));
    }

    /// <summary>Holds the job for <paramref name="reason"/>; false when it syncs or someone else holds it (read the job to tell which).</summary>
    public async Task<bool> HoldAsync(Guid id, string reason, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(HoldSql, new { Id = id, Reason = reason, At = at }, cancellationToken: ct)) == 1;
    }

    public Task ReleaseAsync(Guid id, string reason, DateTime at, CancellationToken ct) =>
        ExecuteAsync(ReleaseSql, new { Id = id, Reason = reason, At = at }, ct);

    /// <summary>failed_over, if it is held by <paramref name="reason"/> and not syncing; false otherwise.</summary>
    public async Task<bool> MarkFailedOverAsync(Guid id, string reason, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(MarkFailedOverSql, new { Id = id, Reason = reason, At = at }, cancellationToken: ct)) == 1;
    }

    private async Task ExecuteAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }
}

/// <summary>How a disk reached a change id (cbt_history.sync_type, an ENUM).</summary>
internal static class CbtSyncTypes
{
    public const string Full = "full";
    public const string Incremental = "incremental";
}

internal sealed record DiskSpecRow(string DiskId, string VmdkPath, long CapacityBytes, string? Datastore, int? UnitNumber, string? Label,
    string? ProvisioningType);

internal sealed class SyncDiskRow
{
    public long Id { get; init; }
    public string DiskId { get; init; } = "";
    public long CapacityBytes { get; init; }
    public int? UnitNumber { get; init; }
    public long? OsseaVolumeId { get; init; }
    public string? DiskChangeId { get; init; }
    public string SyncStatus { get; init; } = "";
    public long SyncCheckpoint { get; init; }
    public string? NbdExportName { get; init; }
    public string? FullCopyReason { get; init; }
    public long BytesSynced { get; init; }
    public long ExtentsSynced { get; init; }
    public string? VerifyMismatchRanges { get; init; }
}

internal sealed record DiskProgressRow(long Id, string Status, decimal Percent, long Bytes, long Extents, long Checkpoint);

internal sealed record DiskCompletion(string NewChangeId, bool Full, long Bytes, long Extents, string? Reason);
