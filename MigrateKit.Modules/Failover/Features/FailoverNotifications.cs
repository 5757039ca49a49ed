using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Failover.Run;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Failover.Features;

/// <summary>
/// DESIGN rule 7: the Volume module publishes this the moment OSSEA reports the new VM's id, before
/// any further step; the failover records it here, so whatever fails next, cleanup finds the VM.
/// </summary>
internal sealed class RecordDestinationVm(FailoverStore store, IJobTracker jobs, TimeProvider time) : INotificationHandler<VirtualMachineCreatedNotification>
{
    public async Task Handle(VirtualMachineCreatedNotification notification, CancellationToken cancellationToken)
    {
        if (!FailoverNaming.TryParseOwner(notification.Owner, out var failoverId))
        {
            return;
        }
        // Not cancellable: the VM exists now, so its id must be written even if the caller gives up.
        await store.SetDestinationAsync(failoverId, notification.VmId, time.GetUtcNow().UtcDateTime, CancellationToken.None);
        if (jobs.Current is { } job)
        {
            await job.InfoAsync($"failover {failoverId}: destination VM {notification.VmId} recorded", CancellationToken.None);
        }
    }
}

/// <summary>
/// A replication with an unfinished failover cannot be deleted (its volumes are in use or held);
/// otherwise its finished failover history goes first (failover_jobs refers to the job, RESTRICT).
/// </summary>
internal sealed class RefuseDeletingFailedOverReplication(FailoverStore store, IJobTracker jobs) : INotificationHandler<ReplicationDeletingNotification>
{
    public async Task Handle(ReplicationDeletingNotification notification, CancellationToken cancellationToken)
    {
        var unfinished = await store.UnfinishedOfReplicationAsync(notification.Id, cancellationToken);
        if (unfinished.Count > 0)
        {
            throw new ConflictException(
                $"Replication {notification.Id} has unfinished failover(s) {string.Join(", ", unfinished)}; clean them up (or, for a live failover, keep the job) first.");
        }
        var deleted = await store.DeleteFinishedOfReplicationAsync(notification.Id, cancellationToken);
        if (deleted > 0 && jobs.Current is { } job)
        {
            await job.InfoAsync($"deleted the history of {deleted} finished failover(s) of replication {notification.Id}", cancellationToken);
        }
    }
}
