using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class CreateVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks, IJobTracker jobs)
        : IRequestHandler<CreateVolumeSnapshotCommand, VolumeSnapshotView>
    {
        public async Task<VolumeSnapshotView> Handle(CreateVolumeSnapshotCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            return await operations.RunAsync("snapshot", c.VolumeId, volume.VmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                try
                {
                    var snapshot = await client.CreateSnapshotAsync(c.VolumeId, c.Name, clients.Operation("create_snapshot"), ct);
                    return new VolumeSnapshotView(snapshot.Id, c.VolumeId, snapshot.Name ?? c.Name, snapshot.State ?? "");
                }
                catch (OsseaException)
                {
                    // OSSEA records the snapshot before its job fails (state Error): nobody holds its id, so remove it here.
                    await RemoveLeftoversAsync(client, c);
                    throw;
                }
            }, cancellationToken);
        }

        private async Task RemoveLeftoversAsync(IOsseaClient client, CreateVolumeSnapshotCommand c)
        {
            try
            {
                foreach (var leftover in await client.ListSnapshotsAsync(null, c.VolumeId, c.Name, CancellationToken.None))
                {
                    if (leftover.Name == c.Name)
                    {
                        await client.DeleteSnapshotAsync(leftover.Id, clients.Operation("delete_snapshot"), CancellationToken.None);
                        await WarnAsync($"removed snapshot {leftover.Id} ({leftover.State}) left behind by the failed snapshot of volume {c.VolumeId}");
                    }
                }
            }
            catch (OsseaException ex)
            {
                // The create's own error is what the caller must see; this one only needs to be on record.
                await WarnAsync($"could not remove a snapshot left behind by the failed snapshot of volume {c.VolumeId}: {ex.Message}");
            }
        }

        private async Task WarnAsync(string message)
        {
            if (jobs.Current is { } job)
            {
                await job.WarnAsync(message, CancellationToken.None);
            }
        }
    }
}
