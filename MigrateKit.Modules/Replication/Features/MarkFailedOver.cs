using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Features;

internal static class MarkFailedOver
{
    internal sealed class Validator : AbstractValidator<MarkFailedOverCommand>
    {
        public Validator() => RuleFor(c => c.Reason).NotEmpty().MaximumLength(255);
    }

    internal sealed class Handler(ReplicationStore store, ReplicationViews views, IJobTracker jobs, TimeProvider time)
        : IRequestHandler<MarkFailedOverCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(MarkFailedOverCommand c, CancellationToken cancellationToken)
        {
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.Status == ReplicationStatuses.FailedOver)
            {
                await jobs.Current!.InfoAsync("already failed over", cancellationToken);
                return (await views.GetAsync(c.Id, cancellationToken))!;
            }
            if (!await store.MarkFailedOverAsync(c.Id, c.Reason, time.GetUtcNow().UtcDateTime, cancellationToken))
            {
                job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
                throw job.Status == ReplicationStatuses.Replicating
                    ? new ConflictException($"Replication {c.Id} is syncing; it cannot be marked failed over now.")
                    : new ConflictException($"Replication {c.Id} is {(job.HoldReason is null ? "not held" : $"held by '{job.HoldReason}'")}; hold it with '{c.Reason}' first.");
            }
            await jobs.Current!.InfoAsync($"failed over ({c.Reason}): no more syncs; the volumes belong to the OSSEA VM", cancellationToken);
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}
