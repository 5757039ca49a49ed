using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class DeleteVolume
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks)
        : IRequestHandler<DeleteVolumeCommand, Unit>
    {
        public async Task<Unit> Handle(DeleteVolumeCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            return await operations.RunAsync("delete", c.VolumeId, volume.VmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                // Both our record and OSSEA's own must say detached: deleting an attached volume is never safe.
                if (await store.GetMappingAsync(c.VolumeId, ct) is { } mapping)
                {
                    throw new ConflictException($"Volume {c.VolumeId} is attached to VM {mapping.VmId}; detach it first.");
                }
                var inCloud = await client.GetVolumeAsync(c.VolumeId, ct);
                if (inCloud?.VirtualMachineId is { Length: > 0 } vm)
                {
                    throw new ConflictException($"OSSEA reports volume {c.VolumeId} attached to VM {vm}; detach it first.");
                }
                if (inCloud is not null)
                {
                    await client.DeleteVolumeAsync(c.VolumeId, ct);
                }
                await store.DeleteVolumeAsync(c.VolumeId, ct);
                return Unit.Value;
            }, cancellationToken);
        }
    }
}
