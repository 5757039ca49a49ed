namespace MigrateKit.Modules.Transport.Pki;

/// <summary>The authority's answer to a token: the agent name to issue for, or why not.</summary>
public sealed record EnrollmentDecision(bool Accepted, string? AgentName, string? Reason, TimeSpan? CertificateLifetime = null)
{
    public static EnrollmentDecision Accept(string agentName, TimeSpan? lifetime = null) => new(true, agentName, null, lifetime);

    public static EnrollmentDecision Reject(string reason) => new(false, null, reason);
}

/// <summary>
/// Owns one-time enrollment tokens and the record of issued agent certificates (the tables
/// <c>vma_enrollment_tokens</c> and <c>vma_agents</c> in production).
/// </summary>
public interface IEnrollmentAuthority
{
    /// <summary>
    /// Validates and consumes <paramref name="token"/> atomically (a token works once, until it expires).
    /// <paramref name="requestedAgentName"/> is what the agent asked for; the authority may bind the
    /// token to a name and refuse another.
    /// </summary>
    ValueTask<EnrollmentDecision> RedeemTokenAsync(string token, string? requestedAgentName, CancellationToken cancellationToken);

    /// <summary>Records the certificate issued for the redeemed token (fingerprint, serial, notAfter).</summary>
    ValueTask RecordIssuedAsync(IssuedAgentCertificate issued, CancellationToken cancellationToken);
}
