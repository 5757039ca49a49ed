using System.Net;
using MigrateKit.Modules.Transport.Pki;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>The facts of an agent's (already chain-validated) client certificate.</summary>
public sealed record AgentCertificateInfo(
    CertificateFingerprint Fingerprint,
    string SerialNumber,
    string Subject,
    string CommonName,
    DateTimeOffset NotAfter,
    EndPoint? RemoteEndPoint);

/// <summary>The authorizer's answer: an agent identity, or why the agent is refused.</summary>
public sealed record AgentAuthorization(bool Allowed, string? AgentName, string? Reason)
{
    public static AgentAuthorization Allow(string agentName) => new(true, agentName, null);

    public static AgentAuthorization Deny(string reason) => new(false, null, reason);
}

/// <summary>
/// Decides whether a certificate the OMA CA issued still belongs to an enrolled, non-revoked agent
/// (backed by <c>vma_agents</c> in production). Called once per tunnel connection after the TLS handshake.
/// </summary>
public interface IAgentAuthorizer
{
    ValueTask<AgentAuthorization> AuthorizeAsync(AgentCertificateInfo certificate, CancellationToken cancellationToken);
}
