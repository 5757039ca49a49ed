using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Features;

internal static class ReleaseReplication
{
    internal sealed class Validator : AbstractValidator<ReleaseReplicationCommand>
    {
        public Validator() => RuleFor(c => c.Reason).NotEmpty().MaximumLength(255);
    }

    internal sealed class Handler(ReplicationStore store, ReplicationViews views, IJobTracker jobs, TimeProvider time)
        : IRequestHandler<ReleaseReplicationCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(ReleaseReplicationCommand c, CancellationToken cancellationToken)
        {
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.HoldReason == c.Reason)
            {
                await store.ReleaseAsync(c.Id, c.Reason, time.GetUtcNow().UtcDateTime, cancellationToken);
                await jobs.Current!.InfoAsync($"hold '{c.Reason}' released; the schedule continues", cancellationToken);
            }
            else
            {
                // Someone else's hold (or none) is not ours to lift: a retried release must not undo a newer hold.
                await jobs.Current!.InfoAsync(job.HoldReason is null ? "not held; nothing to release" : $"held by '{job.HoldReason}', not '{c.Reason}'; left as it is",
                    cancellationToken);
            }
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}
