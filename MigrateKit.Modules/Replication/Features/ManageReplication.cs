using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Sync;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Replication.Features;

internal static class RequestSync
{
    internal sealed class Handler(ReplicationStore store, ReplicationViews views, TimeProvider time) : IRequestHandler<RequestSyncCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(RequestSyncCommand c, CancellationToken cancellationToken)
        {
            var job = await views.GetAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.Status is ReplicationStatuses.Cancelled or ReplicationStatuses.FailedOver)
            {
                throw new ConflictException($"Replication {c.Id} is {job.Status}; it does not sync any more.");
            }
            if (job.HoldReason is { } hold)
            {
                throw new ConflictException($"Replication {c.Id} is held by '{hold}'; no sync starts until it is released.");
            }
            await store.RequestSyncAsync(c.Id, time.GetUtcNow().UtcDateTime, cancellationToken);
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}

internal static class CancelReplication
{
    internal sealed class Handler(
        ReplicationStore store, ReplicationViews views, ReplicationRunner runner, LeftoverSnapshots snapshots, IJobTracker jobs, TimeProvider time)
        : IRequestHandler<CancelReplicationCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(CancelReplicationCommand c, CancellationToken cancellationToken)
        {
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.Status is ReplicationStatuses.FailedOver)
            {
                throw new ConflictException($"Replication {c.Id} has been failed over; there is nothing to cancel.");
            }
            await store.SetStatusAsync(c.Id, ReplicationStatuses.Cancelled, "cancelled by an operator", time.GetUtcNow().UtcDateTime, cancellationToken);
            // A running sync removes its own snapshot when it sees the cancel; a job at rest (or left
            // 'replicating' by a stopped OMA, with no run here) may still hold one.
            if (job.Status != ReplicationStatuses.Replicating || !runner.IsRunning(c.Id))
            {
                await snapshots.RemoveAsync(job, jobs.Current!, cancellationToken);
            }
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}

internal static class DeleteReplication
{
    internal sealed class Handler(ReplicationStore store, ReplicationViews views, LeftoverSnapshots snapshots, IMediator mediator, IJobTracker jobs)
        : IRequestHandler<DeleteReplicationCommand, Unit>
    {
        public async Task<Unit> Handle(DeleteReplicationCommand c, CancellationToken cancellationToken)
        {
            var job = await views.GetAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            if (job.Status == ReplicationStatuses.Replicating)
            {
                throw new ConflictException($"Replication {c.Id} is syncing; cancel it first.");
            }
            var scope = jobs.Current!;
            // Other modules (a failover using these volumes) may refuse by throwing ConflictException.
            await mediator.Publish(new ReplicationDeletingNotification(c.Id), cancellationToken);
            var volumes = new List<VolumeView>();
            foreach (var disk in job.Disks.Where(d => d.OsseaVolumeId is not null))
            {
                if (await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), cancellationToken) is { } volume)
                {
                    volumes.Add(volume);
                }
            }
            // Check every volume before touching any: a half-deleted job is worse than a refused one.
            var elsewhere = volumes.Where(v => v.Mapping is { OperationMode: OperationModes.Failover }).ToList();
            if (elsewhere.Count > 0)
            {
                throw new ConflictException(
                    $"Volumes {string.Join(", ", elsewhere.Select(v => $"{v.VolumeId} (on VM {v.Mapping!.VmId})"))} are attached to a VM other than the OMA; clean up the failover first.");
            }
            if (await store.GetJobAsync(c.Id, cancellationToken) is { } row)
            {
                await scope.RunStepAsync("remove leftover snapshots", ct => snapshots.RemoveAsync(row, scope, ct), cancellationToken);
            }
            foreach (var volume in volumes)
            {
                await scope.RunStepAsync($"delete volume {volume.Name}", async ct =>
                {
                    if (volume.Mapping is not null)
                    {
                        await mediator.Send(new DetachVolumeCommand(volume.VolumeId), ct);
                    }
                    await mediator.Send(new DeleteVolumeCommand(volume.VolumeId), ct);
                }, cancellationToken);
            }
            await scope.RunStepAsync("delete job", ct => store.DeleteJobAsync(c.Id, ct), cancellationToken);
            return Unit.Value;
        }
    }
}
