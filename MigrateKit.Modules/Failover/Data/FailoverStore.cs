using System.Text.Json;
using Dapper;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Run;
using MySqlConnector;

namespace MigrateKit.Modules.Failover.Data;

/// <summary>What a failover request asked for besides the network mappings (failover_jobs.request_options).</summary>
internal sealed record FailoverRequestOptions(string VmName, string? ServiceOfferingId, bool ShutdownSource);

internal sealed class FailoverRow
{
    public Guid Id { get; init; }
    public Guid ReplicationJobId { get; init; }
    public string VmId { get; init; } = "";
    public string JobType { get; init; } = "";
    public string Status { get; init; } = "";
    public string? DestinationVmId { get; init; }
    public string? NetworkMappings { get; init; }
    public string? RequestOptions { get; init; }
    /// <summary>The key of the step in progress (<see cref="FailoverSteps"/>).</summary>
    public string? CurrentStep { get; init; }
    public string? ErrorMessage { get; init; }
    public DateTime CreatedAt { get; init; }
    public DateTime? StartedAt { get; init; }
    public DateTime? CompletedAt { get; init; }

    public IReadOnlyList<NetworkMapping> Mappings =>
        NetworkMappings is null ? [] : JsonSerializer.Deserialize<List<NetworkMapping>>(NetworkMappings, FailoverStore.Json) ?? [];

    public FailoverRequestOptions Options =>
        (RequestOptions is null ? null : JsonSerializer.Deserialize<FailoverRequestOptions>(RequestOptions, FailoverStore.Json))
        ?? new FailoverRequestOptions("", null, false);

    /// <summary>The view operators read: the step as its label (<see cref="CurrentStep"/> holds its key).</summary>
    public FailoverView ToView(IReadOnlyList<FailoverSnapshotView> snapshots) => new(Id, ReplicationJobId, VmId, JobType, Status, FailoverSteps.Label(CurrentStep),
        DestinationVmId, Mappings, ErrorMessage, CreatedAt, StartedAt, CompletedAt, snapshots, Options.VmName is { Length: > 0 } n ? n : null,
        Options.ShutdownSource);
}

internal sealed class FailoverSnapshotRow
{
    public Guid FailoverJobId { get; init; }
    public string VolumeId { get; init; } = "";
    public string SnapshotId { get; init; } = "";
    public string Status { get; init; } = "";
}

/// <summary>All SQL of the Failover module (failover_jobs, failover_snapshots).</summary>
internal sealed class FailoverStore(MySqlDataSource dataSource)
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private const string Columns = """
        id AS Id, replication_job_id AS ReplicationJobId, vm_id AS VmId, job_type AS JobType, status AS Status,
        destination_vm_id AS DestinationVmId, network_mappings AS NetworkMappings, request_options AS RequestOptions,
        current_step AS CurrentStep, error_message AS ErrorMessage, created_at AS CreatedAt, started_at AS StartedAt, completed_at AS CompletedAt
        """;

    private const string InsertSql = """
        INSERT INTO failover_jobs (id, replication_job_id, vm_id, job_type, status, network_mappings, request_options, created_at, updated_at)
        VALUES (@Id, @ReplicationJobId, @VmId, @JobType, 'pending', @NetworkMappings, @RequestOptions, @At, @At)
        """;
    private const string GetSql = $"SELECT {Columns} FROM failover_jobs WHERE id = @Id";
    private const string ListSql = $"SELECT {Columns} FROM failover_jobs WHERE @Status IS NULL OR status = @Status ORDER BY created_at DESC LIMIT 500";
    private const string UnfinishedOfVmSql = $"SELECT {Columns} FROM failover_jobs WHERE active_vm_key = @VmId";
    private const string SnapshotsSql = """
        SELECT failover_job_id AS FailoverJobId, volume_id AS VolumeId, snapshot_id AS SnapshotId, status AS Status
        FROM failover_snapshots WHERE failover_job_id = @Id ORDER BY id
        """;
    private const string ClaimSql = """
        UPDATE failover_jobs SET status = 'running', started_at = @At, updated_at = @At, error_message = NULL
        WHERE id = @Id AND status = 'pending'
        """;
    private const string SetStepSql = "UPDATE failover_jobs SET current_step = @Step, updated_at = @At WHERE id = @Id";
    private const string SetDestinationSql = """
        UPDATE failover_jobs SET destination_vm_id = @VmId, updated_at = @At WHERE id = @Id AND (destination_vm_id IS NULL OR destination_vm_id <> @VmId)
        """;
    private const string EndSql = """
        UPDATE failover_jobs SET status = @Status, error_message = @Error, current_step = NULL, completed_at = @At, updated_at = @At
        WHERE id = @Id AND status = @Expected
        """;
    private const string BeginCleanupSql = """
        UPDATE failover_jobs SET status = 'cleaning_up', error_message = NULL, updated_at = @At
        WHERE id = @Id AND status = @Expected
        """;
    private const string UpsertSnapshotSql = """
        INSERT INTO failover_snapshots (failover_job_id, volume_id, snapshot_id, status, created_at, updated_at)
        VALUES (@Id, @VolumeId, @SnapshotId, @Status, @At, @At)
        ON DUPLICATE KEY UPDATE snapshot_id = VALUES(snapshot_id), status = VALUES(status), updated_at = VALUES(updated_at)
        """;
    private const string SetSnapshotStatusSql = """
        UPDATE failover_snapshots SET status = @Status, updated_at = @At WHERE failover_job_id = @Id AND volume_id = @VolumeId
        """;
    private const string WorkSql = """
        SELECT id FROM failover_jobs WHERE status IN ('pending', 'running') ORDER BY created_at LIMIT 100
        """;
    private const string UnfinishedOfReplicationSql = """
        SELECT id FROM failover_jobs WHERE replication_job_id = @Id AND status NOT IN ('failed', 'cleaned_up') ORDER BY created_at
        """;
    private const string DeleteFinishedOfReplicationSql = """
        DELETE FROM failover_jobs WHERE replication_job_id = @Id AND status IN ('failed', 'cleaned_up')
        """;

    public async Task InsertAsync(Guid id, Guid replicationId, string sourceVmId, string jobType, IReadOnlyList<NetworkMapping> mappings,
        FailoverRequestOptions options, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertSql, new
        {
            Id = id, ReplicationJobId = replicationId, VmId = sourceVmId, JobType = jobType,
            NetworkMappings = JsonSerializer.Serialize(mappings, Json), RequestOptions = JsonSerializer.Serialize(options, Json), At = at,
        }, cancellationToken: ct));
    }

    public async Task<FailoverRow?> GetAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<FailoverRow>(new CommandDefinition(GetSql, new { Id = id }, cancellationToken: ct));
    }

    public async Task<FailoverRow?> UnfinishedOfVmAsync(string sourceVmId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<FailoverRow>(new CommandDefinition(UnfinishedOfVmSql, new { VmId = sourceVmId }, cancellationToken: ct));
    }

    public async Task<FailoverView?> GetViewAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var row = await conn.QuerySingleOrDefaultAsync<FailoverRow>(new CommandDefinition(GetSql, new { Id = id }, cancellationToken: ct));
        return row is null ? null : row.ToView(await SnapshotViewsAsync(conn, id, ct));
    }

    public async Task<IReadOnlyList<FailoverView>> ListViewsAsync(string? status, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var rows = (await conn.QueryAsync<FailoverRow>(new CommandDefinition(ListSql, new { Status = status }, cancellationToken: ct))).AsList();
        var views = new List<FailoverView>(rows.Count);
        foreach (var row in rows)
        {
            views.Add(row.ToView(await SnapshotViewsAsync(conn, row.Id, ct)));
        }
        return views;
    }

    public async Task<IReadOnlyList<FailoverSnapshotRow>> SnapshotsAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<FailoverSnapshotRow>(new CommandDefinition(SnapshotsSql, new { Id = id }, cancellationToken: ct))).AsList();
    }

    private static async Task<IReadOnlyList<FailoverSnapshotView>> SnapshotViewsAsync(MySqlConnection conn, Guid id, CancellationToken ct) =>
        (await conn.QueryAsync<FailoverSnapshotRow>(new CommandDefinition(SnapshotsSql, new { Id = id }, cancellationToken: ct)))
            .Select(s => new FailoverSnapshotView(s.VolumeId, s.SnapshotId, s.Status)).ToList();

    public async Task<bool> ClaimAsync(Guid id, DateTime at, CancellationToken ct) => await ExecuteAsync(ClaimSql, new { Id = id, At = at }, ct) == 1;

    public Task SetStepAsync(Guid id, string? step, DateTime at, CancellationToken ct) => ExecuteAsync(SetStepSql, new { Id = id, Step = step, At = at }, ct);

    public Task SetDestinationAsync(Guid id, string vmId, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetDestinationSql, new { Id = id, VmId = vmId, At = at }, ct);

    /// <summary>Ends a run or a cleanup, only from the state the caller saw (false: someone else changed it).</summary>
    public async Task<bool> EndAsync(Guid id, string expected, string status, string? error, DateTime at, CancellationToken ct) =>
        await ExecuteAsync(EndSql, new { Id = id, Expected = expected, Status = status, Error = Truncate(error), At = at }, ct) == 1;

    public async Task<bool> BeginCleanupAsync(Guid id, string expected, DateTime at, CancellationToken ct) =>
        await ExecuteAsync(BeginCleanupSql, new { Id = id, Expected = expected, At = at }, ct) == 1;

    public Task UpsertSnapshotAsync(Guid id, string volumeId, string snapshotId, string status, DateTime at, CancellationToken ct) =>
        ExecuteAsync(UpsertSnapshotSql, new { Id = id, VolumeId = volumeId, SnapshotId = snapshotId, Status = status, At = at }, ct);

    public Task SetSnapshotStatusAsync(Guid id, string volumeId, string status, DateTime at, CancellationToken ct) =>
        ExecuteAsync(SetSnapshotStatusSql, new { Id = id, VolumeId = volumeId, Status = status, At = at }, ct);

    /// <summary>Failovers the worker must run (pending) or deal with after a restart (running).</summary>
    public async Task<IReadOnlyList<Guid>> WorkAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<Guid>(new CommandDefinition(WorkSql, cancellationToken: ct))).AsList();
    }

    public async Task<IReadOnlyList<Guid>> UnfinishedOfReplicationAsync(Guid replicationId, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<Guid>(new CommandDefinition(UnfinishedOfReplicationSql, new { Id = replicationId }, cancellationToken: ct))).AsList();
    }

    public Task<int> DeleteFinishedOfReplicationAsync(Guid replicationId, CancellationToken ct) =>
        ExecuteAsync(DeleteFinishedOfReplicationSql, new { Id = replicationId }, ct);

    private static string? Truncate(string? text) => text is { Length: > 4000 } ? text[..4000] : text;

    private async Task<int> ExecuteAsync(string sql, object args, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(sql, args, cancellationToken: ct));
    }
}
