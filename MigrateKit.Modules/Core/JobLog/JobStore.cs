using Dapper;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.Data;
using MySqlConnector;

namespace MigrateKit.Modules.Core.JobLog;

internal sealed class JobRow
{
    public Guid Id { get; init; }
    public Guid? ParentJobId { get; init; }
    public Guid CorrelationId { get; init; }
    public required string JobType { get; init; }
    public required string Operation { get; init; }
    public required string Owner { get; init; }
    public string? EntityType { get; init; }
    public string? EntityId { get; init; }
    public DateTime StartedAt { get; init; }
}

/// <summary>All SQL of the job log.</summary>
internal sealed class JobStore(MySqlDataSource dataSource)
{
    private const string JobColumns = """
        id AS Id, parent_job_id AS ParentJobId, correlation_id AS CorrelationId, job_type AS JobType,
        operation AS Operation, owner AS Owner, entity_type AS EntityType, entity_id AS EntityId,
        status AS Status, error_message AS ErrorMessage, created_at AS CreatedAt, started_at AS StartedAt,
        completed_at AS CompletedAt, duration_ms AS DurationMs
        """;

    private const string InsertJobSql = """
        INSERT INTO jobs (id, parent_job_id, correlation_id, job_type, operation, owner, entity_type, entity_id,
                          status, created_at, started_at, updated_at)
        VALUES (@Id, @ParentJobId, @CorrelationId, @JobType, @Operation, @Owner, @EntityType, @EntityId,
                'running', @StartedAt, @StartedAt, @StartedAt)
        """;

    private const string EndJobSql = """
        UPDATE jobs SET status = @Status, error_message = @Error, completed_at = @At, updated_at = @At, duration_ms = @DurationMs
        WHERE id = @Id
        """;

    private const string InsertStepSql = """
        INSERT INTO job_steps (job_id, seq, name, status, started_at) VALUES (@JobId, @Seq, @Name, 'running', @At);
        SELECT LAST_INSERT_ID();
        """;

    private const string EndStepSql = """
        UPDATE job_steps SET status = @Status, error_message = @Error, completed_at = @At, duration_ms = @DurationMs
        WHERE id = @Id
        """;

    private const string EndInterruptedStepsSql = """
        UPDATE job_steps SET status = 'failed', error_message = @Reason, completed_at = @At WHERE status = 'running'
        """;

    private const string EndInterruptedJobsSql = """
        UPDATE jobs SET status = 'failed', error_message = @Reason, completed_at = @At, updated_at = @At WHERE status = 'running'
        """;

    private const string InsertLogSql = """
        INSERT INTO job_log (job_id, step_id, level, message, created_at) VALUES (@JobId, @StepId, @Level, @Message, @At)
        """;

    // NULL parameters switch a filter off, so one statement serves every combination.
    private const string JobFilter = """
        (@Status IS NULL OR status = @Status) AND (@JobType IS NULL OR job_type = @JobType)
        AND (@CorrelationId IS NULL OR correlation_id = @CorrelationId)
        """;

    private const string CountJobsSql = $"SELECT COUNT(*) FROM jobs WHERE {JobFilter}";

    private const string ListJobsSql = $"SELECT {JobColumns} FROM jobs WHERE {JobFilter} ORDER BY created_at DESC, id LIMIT @Limit OFFSET @Offset";

    private const string GetJobSql = $"""
        SELECT {JobColumns} FROM jobs WHERE id = @Id;
        SELECT id AS Id, seq AS Seq, name AS Name, status AS Status, error_message AS ErrorMessage,
               started_at AS StartedAt, completed_at AS CompletedAt, duration_ms AS DurationMs
          FROM job_steps WHERE job_id = @Id ORDER BY seq;
        SELECT id AS Id, step_id AS StepId, level AS Level, message AS Message, created_at AS CreatedAt
          FROM job_log WHERE job_id = @Id ORDER BY id;
        SELECT {JobColumns} FROM jobs WHERE parent_job_id = @Id ORDER BY created_at, id;
        """;

    public async Task InsertJobAsync(JobRow row, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertJobSql, row, cancellationToken: ct));
    }

    public async Task EndJobAsync(Guid id, string status, string? error, DateTime at, long durationMs, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(EndJobSql,
            new { Id = id, Status = status, Error = Truncate(error), At = at, DurationMs = durationMs }, cancellationToken: ct));
    }

    public async Task<long> InsertStepAsync(Guid jobId, int seq, string name, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(InsertStepSql,
            new { JobId = jobId, Seq = seq, Name = name, At = at }, cancellationToken: ct));
    }

    public async Task EndStepAsync(long id, string status, string? error, DateTime at, long durationMs, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(EndStepSql,
            new { Id = id, Status = status, Error = Truncate(error), At = at, DurationMs = durationMs }, cancellationToken: ct));
    }

    public async Task<int> EndInterruptedAsync(string reason, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(EndInterruptedStepsSql, new { Reason = reason, At = at }, tx, cancellationToken: ct));
        var jobs = await conn.ExecuteAsync(new CommandDefinition(EndInterruptedJobsSql, new { Reason = reason, At = at }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
        return jobs;
    }

    public async Task InsertLogAsync(Guid jobId, long? stepId, JobLogLevel level, string message, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertLogSql,
            new { JobId = jobId, StepId = stepId, Level = level.ToString().ToLowerInvariant(), Message = Truncate(message), At = at },
            cancellationToken: ct));
    }

    public async Task<JobPage> ListJobsAsync(ListJobsQuery query, CancellationToken ct)
    {
        var args = new
        {
            query.Status,
            query.JobType,
            query.CorrelationId,
            Limit = query.PageSize,
            Offset = (query.Page - 1) * query.PageSize,
        };
        await using var conn = await dataSource.OpenAsync(ct);
        var total = await conn.ExecuteScalarAsync<long>(new CommandDefinition(CountJobsSql, args, cancellationToken: ct));
        var items = await conn.QueryAsync<JobSummary>(new CommandDefinition(ListJobsSql, args, cancellationToken: ct));
        return new JobPage(items.AsList(), query.Page, query.PageSize, total);
    }

    public async Task<JobDetails?> GetJobAsync(Guid id, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var grid = await conn.QueryMultipleAsync(new CommandDefinition(GetJobSql, new { Id = id }, cancellationToken: ct));
        var job = await grid.ReadSingleOrDefaultAsync<JobSummary>();
        var steps = (await grid.ReadAsync<JobStepView>()).AsList();
        var log = (await grid.ReadAsync<JobLogEntryView>()).AsList();
        var children = (await grid.ReadAsync<JobSummary>()).AsList();
        return job is null ? null : new JobDetails(job, steps, log, children);
    }

    // TEXT holds 64 KiB; an error message longer than that is noise, not information.
    private static string? Truncate(string? text) => text is { Length: > 16_000 } ? text[..16_000] + " …(truncated)" : text;
}
