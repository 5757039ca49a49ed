using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class ResizeVolume
{
    private const long GiB = 1L << 30;

    internal sealed class Validator : AbstractValidator<ResizeVolumeCommand>
    {
        public Validator() => RuleFor(c => c.SizeBytes).GreaterThan(0).LessThanOrEqualTo(64L << 40);
    }

    internal sealed class Handler(OsseaClients clients, VolumeStore store, VolumeOperations operations, VolumeLocks locks, TimeProvider time)
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

internal static class CreateVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, VolumeOperations operations, VolumeLocks locks, IJobTracker jobs)
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

internal static class RevertVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, VolumeOperations operations, VolumeLocks locks)
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

internal static class DeleteVolumeSnapshot
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, VolumeOperations operations)
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
