using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class DeleteVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations)
        : IRequestHandler<DeleteVolumeSnapshotCommand, Unit>
    {
        public async Task<Unit> Handle(DeleteVolumeSnapshotCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            return await operations.RunAsync("delete-snapshot", c.VolumeId, volume.VmId, c, async ct =>
            {
                await client.DeleteSnapshotAsync(c.SnapshotId, clients.Operation("delete_snapshot"), ct);
                return Unit.Value;
            }, cancellationToken);
        }
    }
}
