using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Failover.Run;

namespace MigrateKit.Modules.Failover.Features;

/// <summary>The failover side of a cleanup: the Cleanup module claims a failover, has it undone here, and ends the cleanup.</summary>
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

    /// <summary>The undo itself is the Failover module's (<see cref="FailoverUndo"/>, shared with the rollback); it runs in the caller's job.</summary>
    internal sealed class UndoHandler(FailoverStore store, FailoverUndo undo, IJobTracker jobs) : IRequestHandler<UndoFailoverCommand, Unit>
    {
        public async Task<Unit> Handle(UndoFailoverCommand c, CancellationToken cancellationToken)
        {
            var scope = jobs.Current ?? throw new InvalidOperationException($"{nameof(UndoFailoverCommand)} runs inside the cleanup's job.");
            var row = await store.GetAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No failover {c.Id}.");
            if (row.Status != FailoverStatuses.CleaningUp)
            {
                throw new ConflictException($"Failover {c.Id} is {row.Status}, not cleaning up: claim it first.");
            }
            await undo.CleanUpAsync(c.Id, scope, cancellationToken);
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
