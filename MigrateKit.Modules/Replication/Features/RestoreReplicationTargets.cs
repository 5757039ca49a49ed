using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Replication.Features;

internal static class RestoreReplicationTargets
{
    internal sealed class Handler(ReplicationStore store, ReplicationViews views, IMediator mediator, IJobTracker jobs)
        : IRequestHandler<RestoreReplicationTargetsCommand, ReplicationJobView>
    {
        public async Task<ReplicationJobView> Handle(RestoreReplicationTargetsCommand c, CancellationToken cancellationToken)
        {
            var scope = jobs.Current!;
            var job = await store.GetJobAsync(c.Id, cancellationToken) ?? throw new NotFoundException($"No replication {c.Id}.");
            var config = await mediator.Send(new GetOsseaConfigQuery(job.OsseaConfigId), cancellationToken)
                ?? throw new ConflictException($"OSSEA config {job.OsseaConfigId} of replication {c.Id} no longer exists.");
            var targets = new List<(SyncDiskRow Disk, VolumeView Volume)>();
            foreach (var disk in (await store.SyncDisksAsync(c.Id, cancellationToken)).Where(d => d.OsseaVolumeId is not null))
            {
                if (await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), cancellationToken) is not { } volume)
                {
                    await scope.WarnAsync($"disk {disk.DiskId}: its volume (row {disk.OsseaVolumeId}) no longer exists; nothing to restore", cancellationToken);
                    continue;
                }
                targets.Add((disk, volume));
            }
            // Check every volume before touching any: attaching half of them helps nobody.
            var elsewhere = targets.Where(t => t.Volume.Mapping is { OperationMode: not OperationModes.Oma }
                || (t.Volume.Mapping is null && t.Volume.AttachedVmId is { Length: > 0 } vm && vm != config.OmaVmId)).ToList();
            if (elsewhere.Count > 0)
            {
                throw new ConflictException(
                    $"Volumes {string.Join(", ", elsewhere.Select(t => $"{t.Volume.VolumeId} (on VM {t.Volume.Mapping?.VmId ?? t.Volume.AttachedVmId})"))} are attached to a VM other than the OMA; detach them first.");
            }
            foreach (var (disk, volume) in targets)
            {
                var exportName = disk.NbdExportName
                    ?? throw new ConflictException($"disk {disk.DiskId} of replication {c.Id} has a volume but no export name recorded.");
                await scope.RunStepAsync($"restore volume {volume.VolumeId}", async ct =>
                {
                    var mapping = await mediator.Send(new AttachVolumeCommand(volume.VolumeId), ct);
                    var export = await mediator.Send(new EnsureNbdExportCommand(volume.VolumeId, exportName), ct);
                    await scope.InfoAsync($"disk {disk.DiskId}: volume {volume.VolumeId} on the OMA as {mapping.DevicePath}, exported as '{export.ExportName}'", ct);
                }, cancellationToken);
            }
            return (await views.GetAsync(c.Id, cancellationToken))!;
        }
    }
}
