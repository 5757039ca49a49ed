using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;

namespace MigrateKit.Modules.Failover.Features;

/// <summary>The failover side of a cleanup: the Cleanup module does the work and records it through these.</summary>
internal static class FailoverCleanupSupport
{
    internal sealed class BeginHandler(FailoverStore store, TimeProvider time) : IRequestHandler<BeginFailoverCleanupCommand, FailoverView>
    {
        public async Task<FailoverView> Handle(BeginFailoverCleanupCommand c, CancellationToken cancellationToken)
        {
            var row = await store.GetAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No failover {c.Id}.");
            if (row.Status == FailoverStatuses.CleaningUp)
            {
                return (await store.GetViewAsync(c.Id, cancellationToken))!;
            }
            var allowed = row.Status switch
            {
                FailoverStatuses.Completed or FailoverStatuses.CleanupFailed => row.JobType == FailoverTypes.Test,
                FailoverStatuses.RollbackFailed => true,
                _ => false,
            };
            if (!allowed)
            {
                throw new ConflictException(row.JobType == FailoverTypes.Live && row.Status == FailoverStatuses.Completed
                    ? $"Failover {c.Id} is a completed live failover: the VM runs on OSSEA for good; there is nothing to clean up."
                    : $"Failover {c.Id} is {row.Status}; only a completed test failover, a failed cleanup or a failed rollback can be cleaned up.");
            }
            if (!await store.BeginCleanupAsync(c.Id, row.Status, time.GetUtcNow().UtcDateTime, cancellationToken))
            {
                throw new ConflictException($"Failover {c.Id} changed state meanwhile; look at it again.");
            }
            return (await store.GetViewAsync(c.Id, cancellationToken))!;
        }
    }

    internal sealed class StepHandler(FailoverStore store, TimeProvider time) : IRequestHandler<SetFailoverStepCommand, Unit>
    {
        public async Task<Unit> Handle(SetFailoverStepCommand c, CancellationToken cancellationToken)
        {
            await store.SetStepAsync(c.Id, c.CurrentStep, time.GetUtcNow().UtcDateTime, cancellationToken);
            return Unit.Value;
        }
    }

    internal sealed class DestinationHandler(FailoverStore store, TimeProvider time) : IRequestHandler<SetFailoverDestinationVmCommand, Unit>
    {
        public async Task<Unit> Handle(SetFailoverDestinationVmCommand c, CancellationToken cancellationToken)
        {
            await store.SetDestinationAsync(c.Id, c.VmId, time.GetUtcNow().UtcDateTime, cancellationToken);
            return Unit.Value;
        }
    }

    internal sealed class SnapshotHandler(FailoverStore store, TimeProvider time) : IRequestHandler<SetFailoverSnapshotStatusCommand, Unit>
    {
        public async Task<Unit> Handle(SetFailoverSnapshotStatusCommand c, CancellationToken cancellationToken)
        {
            if (c.Status is not (FailoverSnapshotStatuses.Created or FailoverSnapshotStatuses.Reverted or FailoverSnapshotStatuses.Unused
                or FailoverSnapshotStatuses.Deleted))
            {
                throw new ArgumentException($"Unknown snapshot status '{c.Status}'.", nameof(c));
            }
            await store.SetSnapshotStatusAsync(c.Id, c.VolumeId, c.Status, time.GetUtcNow().UtcDateTime, cancellationToken);
            return Unit.Value;
        }
    }

    internal sealed class EndHandler(FailoverStore store, TimeProvider time) : IRequestHandler<EndFailoverCleanupCommand, FailoverView>
    {
        public async Task<FailoverView> Handle(EndFailoverCleanupCommand c, CancellationToken cancellationToken)
        {
            var status = c.Error is null ? FailoverStatuses.CleanedUp : FailoverStatuses.CleanupFailed;
            if (!await store.EndAsync(c.Id, FailoverStatuses.CleaningUp, status, c.Error, time.GetUtcNow().UtcDateTime, cancellationToken))
            {
                throw new ConflictException($"Failover {c.Id} is not cleaning up.");
            }
            return (await store.GetViewAsync(c.Id, cancellationToken))!;
        }
    }
}
