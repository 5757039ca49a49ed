using FluentValidation;
using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Sync;
using MigrateKit.Modules.Replication.Vma;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Replication.Features;

internal static class RunFinalSync
{
    internal sealed class Validator : AbstractValidator<RunFinalSyncCommand>
    {
        public Validator() => RuleFor(c => c.Reason).NotEmpty().MaximumLength(255);
    }

    internal sealed class Handler(
        ReplicationStore store, ReplicationViews views, ReplicationRunner runner, IAgentChannel channel, ReplicationOptions options,
        IMediator mediator, IJobTracker jobs) : IRequestHandler<RunFinalSyncCommand, ReplicationJobView>
    {
        // A resumed or someone else's run may be under way first; each pass either ends one or starts ours.
        private const int MaxPasses = 4;

        public async Task<ReplicationJobView> Handle(RunFinalSyncCommand c, CancellationToken cancellationToken)
        {
            var scope = jobs.Current!;
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.Status is ReplicationStatuses.Cancelled or ReplicationStatuses.FailedOver)
            {
                throw new ConflictException($"Replication {c.Id} is {job.Status}; it does not sync any more.");
            }
            if (job.HoldReason != c.Reason)
            {
                throw new ConflictException(
                    $"Replication {c.Id} is {(job.HoldReason is null ? "not held" : $"held by '{job.HoldReason}'")}; hold it with '{c.Reason}' before its final sync.");
            }
            if (c.ShutdownSource)
            {
                await scope.RunStepAsync("shut down source VM", ct => ShutdownAsync(job, scope, ct), cancellationToken);
            }
            await scope.RunStepAsync("final sync", ct => SyncAsync(c, scope, ct), cancellationToken);
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }

        private async Task ShutdownAsync(ReplicationJobRow job, IJobScope scope, CancellationToken ct)
        {
            var agent = (await mediator.Send(new ListAgentsQuery(), ct)).FirstOrDefault(a => a.Id == job.VmaAgentId && a.RevokedAt is null)
                ?? throw new ConflictException($"Replication {job.Id} has no enrolled, unrevoked agent to shut its VM down with.");
            using var vma = new VmaApiClient(channel, agent.Name, options.RequestTimeout);
            var vm = job.SourceVmPath ?? job.SourceVmId;
            VmaPowerResult result;
            try
            {
                // The VMA waits up to the grace for the guest before powering it off: the request may take that long.
                result = await vma.ShutdownAsync(vm, options.ShutdownGrace, ct);
            }
            catch (Exception ex) when (ex is VmaUnavailableException or VmaApiException)
            {
                throw new InvalidOperationException($"shutting down VM '{vm}' through agent '{agent.Name}' failed: {ex.Message}", ex);
            }
            await scope.InfoAsync($"source VM {result.Vm ?? vm}: {result.Outcome} (power state {result.PowerState})", ct);
        }

        private async Task SyncAsync(RunFinalSyncCommand c, IJobScope scope, CancellationToken ct)
        {
            for (var pass = 0; pass < MaxPasses; pass++)
            {
                if (runner.Current(c.Id) is { } other)
                {
                    await scope.InfoAsync("a sync of this job is under way; waiting for it before the final one", ct);
                    await other.WaitAsync(ct);
                    continue;
                }
                var job = await store.GetJobAsync(c.Id, ct) ?? throw new NotFoundException($"No replication {c.Id}.");
                if (job.HoldReason != c.Reason)
                {
                    throw new ConflictException($"Replication {c.Id} is no longer held by '{c.Reason}'.");
                }
                // A run left 'replicating' by an OMA restart resumes with its old snapshot: it cannot be the final one.
                var resume = job.Status == ReplicationStatuses.Replicating;
                // The run belongs to the OMA, not to this request: a caller that stops waiting does not stop the copy.
                if (runner.TryStart(c.Id, c.Reason, runner.ApplicationStopping) is not { } run)
                {
                    continue;
                }
                var outcome = await run.WaitAsync(ct);
                switch (outcome.Kind)
                {
                    case RunOutcomeKind.Completed when !resume:
                        await scope.InfoAsync("final sync completed", ct);
                        return;
                    case RunOutcomeKind.Completed:
                        await scope.InfoAsync("an interrupted sync was finished; now the final one", ct);
                        continue;
                    case RunOutcomeKind.Failed:
                        throw new InvalidOperationException($"the final sync failed: {outcome.Error}");
                    case RunOutcomeKind.Cancelled:
                        throw new ConflictException($"Replication {c.Id} was cancelled during its final sync.");
                    case RunOutcomeKind.Stopped:
                        throw new OperationCanceledException("the OMA is stopping; the final sync resumes at its next start");
                    default:
                        continue; // not claimed: its state changed under us; look again
                }
            }
            throw new InvalidOperationException($"the final sync of replication {c.Id} could not start after {MaxPasses} attempts");
        }
    }
}
