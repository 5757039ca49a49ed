using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class ResizeVolume
{
    private const long GiB = 1L << 30;

    internal sealed class Validator : AbstractValidator<ResizeVolumeCommand>
    {
        public Validator() => RuleFor(c => c.SizeBytes).GreaterThan(0).LessThanOrEqualTo(64L << 40);
    }

    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks, TimeProvider time)
        : IRequestHandler<ResizeVolumeCommand, VolumeView>
    {
        public async Task<VolumeView> Handle(ResizeVolumeCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, _) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            if (c.SizeBytes < volume.Size)
            {
                throw new ConflictException($"Volume {c.VolumeId} is {volume.Size} bytes; shrinking a replication target would lose data.");
            }
            return await operations.RunAsync("resize", c.VolumeId, volume.VmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                var resized = await client.ResizeVolumeAsync(c.VolumeId, (c.SizeBytes + GiB - 1) / GiB, shrinkOk: false, clients.Operation("resize_volume"), ct);
                await store.UpdateVolumeStateAsync(c.VolumeId, resized.State ?? volume.Status, volume.VmId, volume.DevicePath, resized.Size, time.GetUtcNow().UtcDateTime, ct);
                return await VolumeViews.BuildAsync(store, (await store.GetVolumeAsync(c.VolumeId, ct))!, ct);
            }, cancellationToken);
        }
    }
}
