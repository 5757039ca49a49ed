using System.Net;
using MigrateKit.Modules.Agents.Data;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Agents.Tunnel;

/// <summary>A tunnel is accepted only for the certificate currently enrolled for a non-revoked agent.</summary>
internal sealed class DbAgentAuthorizer(AgentStore store, TimeProvider time) : IAgentAuthorizer
{
    public async ValueTask<AgentAuthorization> AuthorizeAsync(AgentCertificateInfo certificate, CancellationToken cancellationToken)
    {
        var agent = await store.FindByFingerprintAsync(certificate.Fingerprint.ToHex(), cancellationToken);
        if (agent is null)
        {
            return AgentAuthorization.Deny("certificate is not the one enrolled for any agent (superseded or unknown)");
        }
        if (agent.RevokedAt is not null)
        {
            return AgentAuthorization.Deny($"agent '{agent.Name}' was revoked at {agent.RevokedAt:u}");
        }
        if (!string.Equals(agent.Name, certificate.CommonName, StringComparison.Ordinal))
        {
            return AgentAuthorization.Deny($"certificate names '{certificate.CommonName}' but is enrolled for '{agent.Name}'");
        }
        var address = certificate.RemoteEndPoint is IPEndPoint ip ? ip.ToString() : certificate.RemoteEndPoint?.ToString();
        await store.TouchAsync(agent.Id, address, time.GetUtcNow().UtcDateTime, cancellationToken);
        return AgentAuthorization.Allow(agent.Name);
    }
}
