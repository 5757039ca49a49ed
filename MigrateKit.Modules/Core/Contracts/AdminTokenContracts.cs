using MediatR;

namespace MigrateKit.Modules.Core.Contracts;

/// <summary>Creates an admin API token. The token is in the result only: it is stored as a hash.</summary>
public sealed record CreateAdminTokenCommand(string Name) : IRequest<CreatedAdminToken>, IJobRequest
{
    public JobStart DescribeJob() => new("admin.token.create", $"create admin token '{Name}'", "core")
    {
        EntityType = "admin_token",
        EntityId = Name,
    };
}

public sealed record CreatedAdminToken(string Name, string Token, string Prefix);

/// <summary>Revokes an admin API token by name; requests with it get 401 from then on.</summary>
public sealed record RevokeAdminTokenCommand(string Name) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("admin.token.revoke", $"revoke admin token '{Name}'", "core")
    {
        EntityType = "admin_token",
        EntityId = Name,
    };
}
