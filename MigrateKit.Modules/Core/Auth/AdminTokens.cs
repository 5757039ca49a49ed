using System.Security.Cryptography;
using System.Text;
using Dapper;
using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Core.Errors;
using MySqlConnector;

namespace MigrateKit.Modules.Core.Auth;

/// <summary>Token format and hashing: "mkt_" + 43 base64url characters (256 random bits).</summary>
internal static class AdminTokenFormat
{
    public const string Prefix = "mkt_";

    public static string NewToken() => Prefix + Base64Url(RandomNumberGenerator.GetBytes(32));

    /// <summary>SHA-256 is enough: the token is 256 random bits, not a password that needs stretching.</summary>
    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    /// <summary>The first characters identify a token in listings without revealing it.</summary>
    public static string Identify(string token) => token[..Math.Min(12, token.Length)];

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

internal sealed record AdminTokenIdentity(int Id, string Name);

/// <summary>All SQL for admin tokens.</summary>
internal sealed class AdminTokenStore(MySqlDataSource dataSource)
{
    private const string InsertSql = """
        INSERT INTO admin_tokens (name, token_hash, token_prefix, created_at) VALUES (@Name, @Hash, @Prefix, @At)
        """;
    private const string FindSql = """
        SELECT id AS Id, name AS Name FROM admin_tokens WHERE token_hash = @Hash AND revoked_at IS NULL
        """;
    private const string TouchSql = """
        UPDATE admin_tokens SET last_used_at = @At WHERE id = @Id AND (last_used_at IS NULL OR last_used_at < @Stale)
        """;
    private const string RevokeSql = "UPDATE admin_tokens SET revoked_at = @At WHERE name = @Name AND revoked_at IS NULL";
    private const string ExistsSql = "SELECT COUNT(*) FROM admin_tokens WHERE name = @Name";

    public async Task<bool> ExistsAsync(string name, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteScalarAsync<long>(new CommandDefinition(ExistsSql, new { Name = name }, cancellationToken: ct)) > 0;
    }

    public async Task InsertAsync(string name, string hash, string prefix, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        await conn.ExecuteAsync(new CommandDefinition(InsertSql, new { Name = name, Hash = hash, Prefix = prefix, At = at }, cancellationToken: ct));
    }

    public async Task<AdminTokenIdentity?> FindActiveAsync(string hash, DateTime now, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        var identity = await conn.QuerySingleOrDefaultAsync<AdminTokenIdentity>(new CommandDefinition(FindSql, new { Hash = hash }, cancellationToken: ct));
        if (identity is not null)
        {
            // Written at most once a minute per token: the audit value is "recently used", not every request.
            await conn.ExecuteAsync(new CommandDefinition(TouchSql, new { identity.Id, At = now, Stale = now.AddMinutes(-1) }, cancellationToken: ct));
        }
        return identity;
    }

    public async Task<int> RevokeAsync(string name, DateTime at, CancellationToken ct)
    {
        await using var conn = await dataSource.OpenAsync(ct);
        return await conn.ExecuteAsync(new CommandDefinition(RevokeSql, new { Name = name, At = at }, cancellationToken: ct));
    }
}

internal static class CreateAdminToken
{
    internal sealed class Validator : AbstractValidator<CreateAdminTokenCommand>
    {
        public Validator() => RuleFor(c => c.Name).NotEmpty().MaximumLength(128).Matches("^[A-Za-z0-9][A-Za-z0-9._-]*$")
            .WithMessage("Name must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.");
    }

    internal sealed class Handler(AdminTokenStore store, TimeProvider time) : IRequestHandler<CreateAdminTokenCommand, CreatedAdminToken>
    {
        public async Task<CreatedAdminToken> Handle(CreateAdminTokenCommand request, CancellationToken cancellationToken)
        {
            if (await store.ExistsAsync(request.Name, cancellationToken))
            {
                throw new ConflictException($"An admin token named '{request.Name}' already exists.");
            }
            var token = AdminTokenFormat.NewToken();
            var prefix = AdminTokenFormat.Identify(token);
            await store.InsertAsync(request.Name, AdminTokenFormat.Hash(token), prefix, time.GetUtcNow().UtcDateTime, cancellationToken);
            return new CreatedAdminToken(request.Name, token, prefix);
        }
    }
}

internal static class RevokeAdminToken
{
    internal sealed class Handler(AdminTokenStore store, TimeProvider time) : IRequestHandler<RevokeAdminTokenCommand, Unit>
    {
        public async Task<Unit> Handle(RevokeAdminTokenCommand request, CancellationToken cancellationToken)
        {
            if (await store.RevokeAsync(request.Name, time.GetUtcNow().UtcDateTime, cancellationToken) == 0)
            {
                throw new NotFoundException($"No active admin token named '{request.Name}'.");
            }
            return Unit.Value;
        }
    }
}
