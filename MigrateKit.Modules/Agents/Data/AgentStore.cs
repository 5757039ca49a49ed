using Dapper;
using MigrateKit.Modules.Core.Data;
using MySqlConnector;

namespace MigrateKit.Modules.Agents.Data;

internal sealed record AgentRow(
    int Id, string Name, string CertFingerprint, string CertSerial, DateTime CertNotAfter, DateTime EnrolledAt, DateTime? RevokedAt,
    DateTime? LastSeenAt, string? LastRemoteAddress, string? AgentVersion);

internal sealed record EnrollmentTokenRow(int Id, string AgentName, DateTime ExpiresAt, DateTime? UsedAt);

internal enum RedeemOutcome { Redeemed, Unknown, AlreadyUsed, Expired, WrongAgent }

/// <summary>All SQL of the Agents module.</summary>
internal sealed class AgentStore(MySqlDataSource dataSource)
{
    private const string AgentColumns = """
        id AS Id, name AS Name, cert_fingerprint AS CertFingerprint, cert_serial AS CertSerial, cert_not_after AS CertNotAfter,
        enrolled_at AS EnrolledAt, revoked_at AS RevokedAt, last_seen_at AS LastSeenAt, last_remote_address AS LastRemoteAddress,
        agent_version AS AgentVersion
        """;

    private const string InsertTokenSql = """
        INSERT INTO vma_enrollment_tokens (agent_name, token_hash, created_at, expires_at) VALUES (@AgentName, @Hash, @At, @ExpiresAt)
        """;

    private const string LockTokenSql = """
        SELECT id AS Id, agent_name AS AgentName, expires_at AS ExpiresAt, used_at AS UsedAt
        FROM vma_enrollment_tokens WHERE token_hash = @Hash FOR UPDATE
        """;

    private const string UseTokenSql = "UPDATE vma_enrollment_tokens SET used_at = @At WHERE id = @Id";

    // Re-enrolling a name (a new token for it) replaces its certificate and lifts a revocation.
    private const string UpsertAgentSql = """
        INSERT INTO vma_agents (name, cert_fingerprint, cert_serial, cert_not_after, enrolled_at, created_at, updated_at)
        VALUES (@Name, @Fingerprint, @Serial, @NotAfter, @At, @At, @At)
        ON DUPLICATE KEY UPDATE cert_fingerprint = VALUES(cert_fingerprint), cert_serial = VALUES(cert_serial),
            cert_not_after = VALUES(cert_not_after), enrolled_at = VALUES(enrolled_at), revoked_at = NULL, updated_at = VALUES(updated_at)
        """;

    private const string LinkTokenSql = """
        UPDATE vma_enrollment_tokens t JOIN vma_agents a ON a.name = t.agent_name
        SET t.used_by_agent_id = a.id
        WHERE t.agent_name = @Name AND t.used_at IS NOT NULL AND t.used_by_agent_id IS NULL
        """;

    private const string AgentByFingerprintSql = $"SELECT {AgentColumns} FROM vma_agents WHERE cert_fingerprint = @Fingerprint";
    private const string AgentByNameSql = $"SELECT {AgentColumns} FROM vma_agents WHERE name = @Name";
    private const string ListAgentsSql = $"SELECT {AgentColumns} FROM vma_agents ORDER BY name";

    private const string TouchAgentSql = """
        UPDATE vma_agents SET last_seen_at = @At, last_remote_address = @Address, updated_at = @At WHERE id = @Id
        """;

    private const string RevokeAgentSql = "UPDATE vma_agents SET revoked_at = @At, updated_at = @At WHERE name = @Name AND revoked_at IS NULL";

    public async Task InsertTokenAsync(string agentName, string hash, DateTime at, DateTime expiresAt, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertTokenSql, new { AgentName = agentName, Hash = hash, At = at, ExpiresAt = expiresAt }, cancellationToken: ct));
    }

    /// <summary>Consumes a token atomically (row lock): two agents racing with one token, one wins.</summary>
    public async Task<(RedeemOutcome Outcome, string? AgentName)> RedeemTokenAsync(string hash, string? requestedName, DateTime now, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var token = await conn.QuerySingleOrDefaultAsync<EnrollmentTokenRow>(new CommandDefinition(LockTokenSql, new { Hash = hash }, tx, cancellationToken: ct));
        var outcome = token switch
        {
            null => RedeemOutcome.Unknown,
            { UsedAt: not null } => RedeemOutcome.AlreadyUsed,
            _ when token.ExpiresAt <= now => RedeemOutcome.Expired,
            _ when requestedName is not null && !string.Equals(requestedName, token.AgentName, StringComparison.Ordinal) => RedeemOutcome.WrongAgent,
            _ => RedeemOutcome.Redeemed,
        };
        if (outcome == RedeemOutcome.Redeemed)
        {
            await conn.ExecuteAsync(new CommandDefinition(UseTokenSql, new { token!.Id, At = now }, tx, cancellationToken: ct));
        }
        await tx.CommitAsync(ct);
        return (outcome, token?.AgentName);
    }

    public async Task RecordIssuedAsync(string name, string fingerprint, string serial, DateTime notAfter, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(UpsertAgentSql,
            new { Name = name, Fingerprint = fingerprint, Serial = serial, NotAfter = notAfter, At = at }, tx, cancellationToken: ct));
        await conn.ExecuteAsync(new CommandDefinition(LinkTokenSql, new { Name = name }, tx, cancellationToken: ct));
        await tx.CommitAsync(ct);
    }

    public async Task<AgentRow?> FindByFingerprintAsync(string fingerprint, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<AgentRow>(new CommandDefinition(AgentByFingerprintSql, new { Fingerprint = fingerprint }, cancellationToken: ct));
    }

    public async Task<AgentRow?> FindByNameAsync(string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.QuerySingleOrDefaultAsync<AgentRow>(new CommandDefinition(AgentByNameSql, new { Name = name }, cancellationToken: ct));
    }

    public async Task<IReadOnlyList<AgentRow>> ListAsync(CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return (await conn.QueryAsync<AgentRow>(new CommandDefinition(ListAgentsSql, cancellationToken: ct))).AsList();
    }

    public async Task TouchAsync(int id, string? address, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(TouchAgentSql, new { Id = id, Address = address, At = at }, cancellationToken: ct));
    }

    public async Task<bool> RevokeAsync(string name, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(RevokeAgentSql, new { Name = name, At = at }, cancellationToken: ct)) > 0;
    }
}
