using MigrateKit.Modules.Agents.Data;
using MigrateKit.Modules.Agents.Features;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Transport.Pki;

namespace MigrateKit.Modules.Agents.Tunnel;

/// <summary>Enrollment backed by vma_enrollment_tokens / vma_agents; every enrollment is a job of the job log.</summary>
internal sealed class DbEnrollmentAuthority(AgentStore store, IJobTracker jobs, TimeProvider time) : IEnrollmentAuthority
{
    public async ValueTask<EnrollmentDecision> RedeemTokenAsync(string token, string? requestedAgentName, CancellationToken cancellationToken)
    {
        var (outcome, agentName) = await store.RedeemTokenAsync(EnrollmentTokens.Hash(token), requestedAgentName, time.GetUtcNow().UtcDateTime, cancellationToken);
        var decision = outcome switch
        {
            RedeemOutcome.Redeemed => EnrollmentDecision.Accept(agentName!),
            RedeemOutcome.Unknown => EnrollmentDecision.Reject("unknown enrollment token"),
            RedeemOutcome.AlreadyUsed => EnrollmentDecision.Reject("enrollment token already used"),
            RedeemOutcome.Expired => EnrollmentDecision.Reject("enrollment token expired"),
            _ => EnrollmentDecision.Reject($"enrollment token was issued for another agent name than '{requestedAgentName}'"),
        };
        if (!decision.Accepted)
        {
            // A refused enrollment is a security event operators must see; the token itself is never recorded.
            var job = await jobs.StartJobAsync(Enroll(agentName ?? requestedAgentName), cancellationToken);
            await job.EndAsync($"refused: {decision.Reason}", cancellationToken);
        }
        return decision;
    }

    public async ValueTask RecordIssuedAsync(IssuedAgentCertificate issued, CancellationToken cancellationToken) =>
        await jobs.RunJobAsync(Enroll(issued.AgentName), async (job, ct) =>
        {
            await job.RunStepAsync("record certificate", c => store.RecordIssuedAsync(issued.AgentName, issued.Fingerprint.ToHex(),
                issued.SerialNumber, issued.NotAfter.UtcDateTime, time.GetUtcNow().UtcDateTime, c), ct);
            await job.InfoAsync($"issued certificate {issued.Fingerprint} (serial {issued.SerialNumber}, valid until {issued.NotAfter:u})", ct);
            return true;
        }, cancellationToken);

    private static JobStart Enroll(string? agentName) => new("agent.enroll", $"enroll agent '{agentName ?? "?"}'", "agents")
    {
        EntityType = "vma_agent",
        EntityId = agentName,
    };
}
