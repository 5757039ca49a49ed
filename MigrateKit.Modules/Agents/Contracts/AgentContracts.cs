using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Agents.Contracts;

/// <summary>
/// Creates a one-time enrollment token for the agent <paramref name="AgentName"/>. The token is in
/// the result only (stored as a hash) and expires after <paramref name="Lifetime"/>.
/// </summary>
public sealed record CreateEnrollmentTokenCommand(string AgentName, TimeSpan Lifetime) : IRequest<CreatedEnrollmentToken>, IJobRequest
{
    public JobStart DescribeJob() => new("agent.enrollment-token.create", $"create an enrollment token for agent '{AgentName}'", "agents")
    {
        EntityType = "vma_agent",
        EntityId = AgentName,
    };
}

public sealed record CreatedEnrollmentToken(string AgentName, string Token, DateTime ExpiresAt);

/// <summary>Every enrolled agent, with whether it is connected now.</summary>
public sealed record ListAgentsQuery : IRequest<IReadOnlyList<AgentView>>;

public sealed record AgentView(
    int Id, string Name, string CertificateFingerprint, DateTime CertificateNotAfter, DateTime EnrolledAt, DateTime? RevokedAt,
    DateTime? LastSeenAt, string? LastRemoteAddress, bool Connected, DateTimeOffset? ConnectedSince, int Connections, int ActiveStreams);

/// <summary>Revokes an agent: its certificate is refused from now on and its open tunnels are closed.</summary>
public sealed record RevokeAgentCommand(string Name) : IRequest<AgentView>, IJobRequest
{
    public JobStart DescribeJob() => new("agent.revoke", $"revoke agent '{Name}'", "agents")
    {
        EntityType = "vma_agent",
        EntityId = Name,
    };
}

/// <summary>
/// Streams to a connected agent's services (e.g. "vma-api"), through the tunnel the agent dialled.
/// Other modules use this to reach the VMA; nothing ever dials into a VMA (DESIGN rule 3).
/// </summary>
public interface IAgentChannel
{
    bool IsConnected(string agentName);

    /// <exception cref="AgentUnavailableException">The agent is not connected.</exception>
    Task<Stream> OpenStreamAsync(string agentName, string service, CancellationToken cancellationToken);
}

public sealed class AgentUnavailableException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One enrolled agent by name; null when there is none.</summary>
public sealed record GetAgentQuery(string Name) : IRequest<AgentView?>;
