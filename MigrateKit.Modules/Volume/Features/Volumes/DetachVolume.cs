using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class DetachVolume
{
    internal sealed class Handler(
        OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks, NbdExportService exports, TimeProvider time)
        : IRequestHandler<DetachVolumeCommand, Unit>
    {
        public async Task<Unit> Handle(DetachVolumeCommand c, CancellationToken cancellationToken)
        {
            var mapping = await store.GetMappingAsync(c.VolumeId, cancellationToken);
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            var vmId = mapping?.VmId ?? volume.VmId;
            return await operations.RunAsync("detach", c.VolumeId, vmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync(vmId is null ? [VolumeLocks.Volume(c.VolumeId)] : [VolumeLocks.Vm(vmId), VolumeLocks.Volume(c.VolumeId)], ct);
                // The export goes first: nothing may be writing into a device that is being pulled.
                if (await store.GetExportAsync(c.VolumeId, ct) is not null)
                {
                    await store.DeleteExportAsync(c.VolumeId, ct);
                    await exports.ReloadAsync(ct);
                }
                var inCloud = await client.GetVolumeAsync(c.VolumeId, ct);
                if (inCloud?.VirtualMachineId is { Length: > 0 })
                {
                    await client.DetachVolumeAsync(c.VolumeId, clients.Operation("detach_volume"), ct);
                }
                await store.DeleteMappingAsync(c.VolumeId, ct);
                await store.UpdateVolumeStateAsync(c.VolumeId, inCloud is null ? OsseaVolumeStates.Missing : OsseaVolumeStates.Ready, null, null, volume.Size, time.GetUtcNow().UtcDateTime, ct);
                return Unit.Value;
            }, cancellationToken);
        }
    }
}
