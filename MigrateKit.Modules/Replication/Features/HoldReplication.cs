using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Features;

internal static class HoldReplication
{
    internal sealed class Validator : AbstractValidator<HoldReplicationCommand>
    {
        public Validator() => RuleFor(c => c.Reason).NotEmpty().MaximumLength(255);
    }

    internal sealed class Handler(ReplicationStore store, ReplicationViews views, IJobTracker jobs, TimeProvider time)
        : IRequestHandler<HoldReplicationCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(HoldReplicationCommand c, CancellationToken cancellationToken)
        {
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            // One statement decides, against the worker's claim: either the hold or the sync wins, never both.
            if (!await store.HoldAsync(c.Id, c.Reason, time.GetUtcNow().UtcDateTime, cancellationToken))
            {
                job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
                throw job.Status == ReplicationStatuses.Replicating
                    ? new ConflictException($"Replication {c.Id} is syncing; wait for the sync to end (or cancel it) before holding it.")
                    : new ConflictException($"Replication {c.Id} is held by '{job.HoldReason}'.");
            }
            await jobs.Current!.InfoAsync(job.HoldReason == c.Reason
                ? $"already held by '{c.Reason}'"
                : $"held by '{c.Reason}': no sync starts until it is released", cancellationToken);
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}
