using MediatR;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Cleanup.Run;

/// <summary>A cleanup step failed for a reason an operator must read.</summary>
internal sealed class CleanupException(string message) : Exception(message);

/// <summary>
/// One cleanup of one failover, inside its job-log job: stop VM → detach volumes → destroy VM →
/// revert volumes to their snapshots → volumes back on the OMA with exports → delete snapshots →
/// release the replication. Each step looks at what is there now and does only what is left, so
/// a cleanup that failed (or was cut off by a restart) is simply run again.
/// </summary>
internal sealed class CleanupRun(Guid failoverId, IJobScope scope, IMediator mediator)
{
    public const string StopVm = "stop VM";
    public const string DetachVolumes = "detach volumes from the VM";
    public const string DestroyVm = "destroy VM";
    public const string RevertVolumes = "revert volumes to their snapshots";
    public const string RestoreTargets = "volumes back on the OMA with their exports";
    public const string DeleteSnapshots = "delete snapshots";
    public const string Release = "release replication";

    private static readonly HashSet<string> ActiveVmStates = new(StringComparer.OrdinalIgnoreCase) { "Running", "Starting", "Stopping", "Migrating" };
    private static readonly HashSet<string> GoneVmStates = new(StringComparer.OrdinalIgnoreCase) { "Destroyed", "Expunging", "Expunged" };

    private FailoverView _failover = null!;
    private ReplicationJobView _replication = null!;
    private VirtualMachineView? _vm;

    private int ConfigId => _replication.OsseaConfigId;

    public async Task ExecuteAsync(CancellationToken ct)
    {
        _failover = await mediator.Send(new GetFailoverQuery(failoverId), ct) ?? throw new CleanupException($"failover {failoverId} no longer exists");
        _replication = await mediator.Send(new GetReplicationQuery(_failover.ReplicationId), ct)
            ?? throw new CleanupException($"replication {_failover.ReplicationId} no longer exists");
        await scope.InfoAsync(
            $"cleaning up {_failover.JobType} failover {failoverId} of VM {_failover.SourceVmId} (replication {_replication.Id}); VM {_failover.DestinationVmId ?? $"'{_failover.VmName}' (id not recorded)"}",
            ct);

        await StepAsync(StopVm, StopVmAsync, ct);
        await StepAsync(DetachVolumes, DetachAsync, ct);
        await StepAsync(DestroyVm, DestroyAsync, ct);
        await StepAsync(RevertVolumes, RevertAsync, ct);
        await StepAsync(RestoreTargets, async c =>
        {
            await mediator.Send(new RestoreReplicationTargetsCommand(_replication.Id), c);
            await scope.InfoAsync("every disk's volume is attached to the OMA and exported again", c);
        }, ct);
        await StepAsync(DeleteSnapshots, DeleteSnapshotsAsync, ct);
        await StepAsync(Release, async c =>
        {
            await mediator.Send(new ReleaseReplicationCommand(_replication.Id, $"failover {failoverId}"), c);
            await scope.InfoAsync($"replication {_replication.Id} released: its next sync is incremental from the change ids it kept", c);
        }, ct);
        await mediator.Send(new SetFailoverStepCommand(failoverId, null), ct);
    }

    private async Task StepAsync(string name, Func<CancellationToken, Task> body, CancellationToken ct)
    {
        await mediator.Send(new SetFailoverStepCommand(failoverId, name), ct);
        await scope.RunStepAsync(name, body, ct);
    }

    private async Task StopVmAsync(CancellationToken ct)
    {
        _vm = _failover.DestinationVmId is { } id
            ? await mediator.Send(new GetVirtualMachineQuery(ConfigId, id), ct)
            : _failover.VmName is { } name ? await mediator.Send(new FindVirtualMachineByNameQuery(ConfigId, name), ct) : null;
        if (_vm is null || GoneVmStates.Contains(_vm.State))
        {
            await scope.InfoAsync(_failover.DestinationVmId is { } gone
                ? $"VM {gone} no longer exists"
                : $"no VM named '{_failover.VmName}' exists: the failover never created one", ct);
            _vm = null;
            return;
        }
        if (_failover.DestinationVmId is null)
        {
            await mediator.Send(new SetFailoverDestinationVmCommand(failoverId, _vm.VmId), ct);
            await scope.WarnAsync($"found VM {_vm.VmId} by its name '{_vm.Name}' (its id had not been recorded); recorded now", ct);
        }
        if (!ActiveVmStates.Contains(_vm.State))
        {
            await scope.InfoAsync($"VM {_vm.VmId} is {_vm.State}", ct);
            return;
        }
        var stopped = await mediator.Send(new StopVirtualMachineCommand(ConfigId, _vm.VmId, Forced: true), ct);
        await scope.InfoAsync($"VM {stopped.VmId} is {stopped.State}", ct);
    }

    /// <summary>
    /// Every replication volume that is not on the OMA is detached, not only those recorded on the
    /// VM: an attach whose answer was lost leaves a volume on the VM without a record, and the
    /// destroy (with expunge) would delete it if it were the VM's ROOT volume.
    /// </summary>
    private async Task DetachAsync(CancellationToken ct)
    {
        var count = 0;
        foreach (var (disk, volume) in await VolumesAsync(ct))
        {
            if (volume.Mapping is { OperationMode: "oma" })
            {
                continue;
            }
            var where = volume.Mapping?.VmId ?? volume.AttachedVmId;
            await mediator.Send(new DetachVolumeCommand(volume.VolumeId), ct);
            if (where is not null)
            {
                await scope.InfoAsync($"volume {volume.VolumeId} (disk {disk.DiskId}) detached from VM {where}", ct);
                count++;
            }
        }
        await scope.InfoAsync(count == 0 ? "no volume was attached to a VM" : $"{count} volume(s) detached", ct);
    }

    private async Task DestroyAsync(CancellationToken ct)
    {
        if (_vm is null)
        {
            await scope.InfoAsync("no VM to destroy", ct);
            return;
        }
        await mediator.Send(new DestroyVirtualMachineCommand(ConfigId, _vm.VmId), ct);
        await scope.InfoAsync($"VM {_vm.VmId} destroyed and expunged", ct);
    }

    private async Task RevertAsync(CancellationToken ct)
    {
        var pending = _failover.Snapshots.Where(s => s.Status == FailoverSnapshotStatuses.Created).ToList();
        if (pending.Count == 0)
        {
            await scope.InfoAsync(_failover.Snapshots.Count == 0
                ? "the failover took no snapshots (a live failover): nothing to revert"
                : "every volume is already back at its snapshot", ct);
            return;
        }
        foreach (var s in pending)
        {
            await mediator.Send(new RevertVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), ct);
            await mediator.Send(new SetFailoverSnapshotStatusCommand(failoverId, s.VolumeId, FailoverSnapshotStatuses.Reverted), CancellationToken.None);
            await scope.InfoAsync($"volume {s.VolumeId} reverted to snapshot {s.SnapshotId}: what the test VM wrote is gone", ct);
        }
    }

    private async Task DeleteSnapshotsAsync(CancellationToken ct)
    {
        var left = _failover.Snapshots.Where(s => s.Status != FailoverSnapshotStatuses.Deleted).ToList();
        if (left.Count == 0)
        {
            await scope.InfoAsync("no snapshots left to delete", ct);
            return;
        }
        foreach (var s in left)
        {
            await mediator.Send(new DeleteVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), ct);
            await mediator.Send(new SetFailoverSnapshotStatusCommand(failoverId, s.VolumeId, FailoverSnapshotStatuses.Deleted), CancellationToken.None);
            await scope.InfoAsync($"snapshot {s.SnapshotId} of volume {s.VolumeId} deleted", ct);
        }
    }

    private async Task<IReadOnlyList<(VmDiskView Disk, VolumeView Volume)>> VolumesAsync(CancellationToken ct)
    {
        var result = new List<(VmDiskView, VolumeView)>();
        foreach (var disk in _replication.Disks.Where(d => d.OsseaVolumeId is not null))
        {
            if (await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), ct) is { } volume)
            {
                result.Add((disk, volume));
            }
        }
        return result;
    }
}
