using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class RevertVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks)
        : IRequestHandler<RevertVolumeSnapshotCommand, VolumeSnapshotView>
    {
        public async Task<VolumeSnapshotView> Handle(RevertVolumeSnapshotCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            return await operations.RunAsync("revert", c.VolumeId, volume.VmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                if (await store.GetMappingAsync(c.VolumeId, ct) is { } mapping)
                {
                    throw new ConflictException($"Volume {c.VolumeId} is attached to VM {mapping.VmId}; detach it before reverting.");
                }
                var snapshot = await client.RevertSnapshotAsync(c.SnapshotId, clients.Operation("revert_snapshot"), ct);
                return new VolumeSnapshotView(snapshot.Id, c.VolumeId, snapshot.Name ?? "", snapshot.State ?? "");
            }, cancellationToken);
        }
    }
}
