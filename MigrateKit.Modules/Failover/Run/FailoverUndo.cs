using MediatR;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Failover.Run;

/// <summary>What a rollback undid, and where it stopped if it could not finish.</summary>
internal sealed record RollbackOutcome(Guid FailoverId, IReadOnlyList<string> Done, string? Failure, string? Note)
{
    public bool Succeeded => Failure is null;

    public string Describe()
    {
        var done = Done.Count == 0 ? "nothing had to be undone" : string.Join("; ", Done);
        var text = Succeeded
            ? $"Rolled back: {done}"
            : $"Rollback failed at {Failure}; undone before that: {done}. Fix the cause, then POST /api/v1/failovers/{FailoverId}/cleanup to finish undoing it";
        return Note is null ? text + "." : $"{text}. {Note}.";
    }
}

/// <summary>
/// The one procedure that undoes a failover: stop the VM → detach its volumes → destroy it →
/// revert the volumes to their snapshots (if the VM may have run) → volumes back on the OMA with
/// their exports → delete the snapshots → release the replication. It works from what is recorded
/// (failover row, snapshots, the step reached) and what OSSEA shows, so it also works after an OMA
/// restart, and every step is safe to repeat.
/// <list type="bullet">
/// <item>A rollback (<see cref="RollBackAsync"/>) starts from the step a failed failover reached:
/// it runs only the steps that have something to undo, as "rollback: …" steps of the failover's
/// job, and stops at the first one that fails (later steps need the earlier ones), keeping the
/// replication held then, so no sync writes into volumes in an unknown place.</item>
/// <item>A cleanup (<see cref="CleanUpAsync"/>) starts from the end (a completed test failover, or
/// a rollback that failed): every step runs and says what it found, its key is recorded in
/// current_step, and the first failure is thrown to the caller.</item>
/// </list>
/// </summary>
internal sealed class FailoverUndo(FailoverStore store, IMediator mediator, TimeProvider time)
{
    /// <summary>Undoes a failover that stopped at step <paramref name="reachedKey"/>; never throws (but for cancellation): the outcome says what happened.</summary>
    public async Task<RollbackOutcome> RollBackAsync(Guid id, string? reachedKey, IJobScope scope, CancellationToken ct)
    {
        var pass = new Pass(store, mediator, time, id, reachedKey, fromEnd: false, scope);
        try
        {
            await pass.ExecuteAsync(ct);
            return new RollbackOutcome(id, pass.Done, null, pass.Note);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            await scope.WarnAsync($"rollback stopped at '{pass.Current}': {ex.Message}", CancellationToken.None);
            return new RollbackOutcome(id, pass.Done, $"'{pass.Current}': {ex.Message.TrimEnd('.')}", pass.Note);
        }
    }

    /// <summary>Undoes a failover claimed for cleanup, from the end; throws at the first step that fails (its key stays in current_step).</summary>
    public Task CleanUpAsync(Guid id, IJobScope scope, CancellationToken ct) => new Pass(store, mediator, time, id, null, fromEnd: true, scope).ExecuteAsync(ct);

    /// <summary>One undo of one failover.</summary>
    private sealed class Pass(FailoverStore store, IMediator mediator, TimeProvider time, Guid id, string? reachedKey, bool fromEnd, IJobScope scope)
    {
        private readonly List<string> _done = [];
        private FailoverRow _row = null!;
        private ReplicationJobView _replication = null!;
        private VirtualMachineView? _vm;
        private bool _vmWasActive;

        /// <summary>What a rollback undid, for its outcome.</summary>
        public IReadOnlyList<string> Done => _done;

        /// <summary>The job step running (or "rollback" before the first).</summary>
        public string Current { get; private set; } = "rollback";

        public string? Note { get; private set; }

        private DateTime Now => time.GetUtcNow().UtcDateTime;
        private int ConfigId => _replication.OsseaConfigId;

        /// <summary>A cleanup starts from the end: whatever the failover did may have to be undone.</summary>
        private bool Reached(FailoverStep step) => fromEnd || FailoverSteps.Reached(reachedKey, step);

        public async Task ExecuteAsync(CancellationToken ct)
        {
            _row = await store.GetAsync(id, ct) ?? throw new FailoverException($"failover {id} no longer exists");
            _replication = await mediator.Send(new GetReplicationQuery(_row.ReplicationJobId), ct)
                ?? throw new FailoverException($"replication {_row.ReplicationJobId} no longer exists");
            await IntroduceAsync(ct);

            var vmMayHaveRun = Reached(FailoverSteps.StartVm);
            if (Reached(FailoverSteps.CreateVm))
            {
                await StepAsync(FailoverSteps.UndoStopVm, FindAndStopVmAsync, ct);
                vmMayHaveRun |= _vmWasActive;
            }
            // Without a VM, a rollback has nothing to detach from; a cleanup still asks every volume.
            if (fromEnd || _vm is not null)
            {
                await StepAsync(FailoverSteps.UndoDetach, DetachAsync, ct);
                await StepAsync(FailoverSteps.UndoDestroyVm, DestroyAsync, ct);
            }

            var snapshots = await store.SnapshotsAsync(id, ct);
            var left = snapshots.Where(s => s.Status != FailoverSnapshotStatuses.Deleted).ToList();
            var created = left.Where(s => s.Status == FailoverSnapshotStatuses.Created).ToList();
            if (vmMayHaveRun && (fromEnd || created.Count > 0))
            {
                await StepAsync(FailoverSteps.UndoRevert, c => RevertAsync(created, snapshots.Count, c), ct);
            }
            else
            {
                foreach (var s in created)
                {
                    // Nothing ran on the volume: it still holds the snapshot's data.
                    await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Unused, Now, ct);
                }
            }

            if (Reached(FailoverSteps.DetachFromOma))
            {
                await StepAsync(FailoverSteps.UndoRestore, async c =>
                {
                    await mediator.Send(new RestoreReplicationTargetsCommand(_replication.Id), c);
                    _done.Add("volumes attached to the OMA again with their NBD exports");
                    await scope.InfoAsync("every disk's volume is attached to the OMA and exported again", c);
                }, ct);
            }
            if (fromEnd || left.Count > 0)
            {
                await StepAsync(FailoverSteps.UndoDeleteSnapshots, c => DeleteSnapshotsAsync(left, c), ct);
            }
            if (Reached(FailoverSteps.Hold))
            {
                await StepAsync(FailoverSteps.UndoRelease, async c =>
                {
                    await mediator.Send(new ReleaseReplicationCommand(_replication.Id, FailoverNaming.HoldReason(id)), c);
                    _done.Add("replication released");
                    await scope.InfoAsync($"replication {_replication.Id} released: its next sync is incremental from the change ids it kept", c);
                }, ct);
            }
            if (fromEnd)
            {
                await store.SetStepAsync(id, null, Now, ct);
            }
        }

        private async Task IntroduceAsync(CancellationToken ct)
        {
            if (fromEnd)
            {
                await scope.InfoAsync(
                    $"cleaning up {_row.JobType} failover {id} of VM {_row.VmId} (replication {_replication.Id}); VM {_row.DestinationVmId ?? $"'{_row.Options.VmName}' (id not recorded)"}",
                    ct);
                return;
            }
            if (_row.JobType == FailoverTypes.Live && _row.Options.ShutdownSource
                && (FailoverSteps.Reached(reachedKey, FailoverSteps.FinalSync) || reachedKey == FailoverSteps.Virtio.Key))
            {
                Note = $"The source VM {_row.VmId} may have been shut down for the final sync; it stays off until you power it on in vCenter";
            }
            await scope.WarnAsync($"rolling back failover {id} (it stopped at '{FailoverSteps.Label(reachedKey) ?? "the start"}')", ct);
        }

        /// <summary>A rollback's steps are named "rollback: …"; a cleanup records each step's key in current_step.</summary>
        private async Task StepAsync(FailoverStep step, Func<CancellationToken, Task> body, CancellationToken ct)
        {
            Current = fromEnd ? step.Label : FailoverSteps.RollbackPrefix + step.Label;
            if (fromEnd)
            {
                await store.SetStepAsync(id, step.Key, Now, ct);
            }
            await scope.RunStepAsync(Current, body, ct);
        }

        /// <summary>The failover's VM: by the recorded id, else by its name (a create whose answer was lost); stopped if it runs.</summary>
        private async Task FindAndStopVmAsync(CancellationToken ct)
        {
            var name = _row.Options.VmName;
            var vm = _row.DestinationVmId is { } known
                ? await mediator.Send(new GetVirtualMachineQuery(ConfigId, known), ct)
                : name.Length > 0 ? await mediator.Send(new FindVirtualMachineByNameQuery(ConfigId, name), ct) : null;
            if (vm is null || OsseaVmStates.IsGone(vm.State))
            {
                await scope.InfoAsync(_row.DestinationVmId is { } gone
                    ? $"VM {gone} no longer exists"
                    : $"no VM named '{name}' exists: the failover never created one", ct);
                return;
            }
            _vm = vm;
            if (_row.DestinationVmId is null)
            {
                await store.SetDestinationAsync(id, vm.VmId, Now, ct);
                await scope.WarnAsync($"found VM {vm.VmId} by its name '{vm.Name}' (its id had not been recorded); recorded now", ct);
            }
            if (!OsseaVmStates.IsActive(vm.State))
            {
                await scope.InfoAsync($"VM {vm.VmId} is {vm.State}", ct);
                return;
            }
            _vmWasActive = true;
            var stopped = await mediator.Send(new StopVirtualMachineCommand(ConfigId, vm.VmId, Forced: true), ct);
            _done.Add($"VM {vm.VmId} stopped");
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
            foreach (var disk in _replication.Disks.Where(d => d.OsseaVolumeId is not null))
            {
                var volume = await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), ct);
                if (volume is null || volume.Mapping is { OperationMode: OperationModes.Oma })
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
            if (count > 0)
            {
                _done.Add($"{count} volume(s) detached from it");
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
            _done.Add($"VM {_vm.VmId} destroyed");
            await scope.InfoAsync($"VM {_vm.VmId} destroyed and expunged", ct);
        }

        private async Task RevertAsync(IReadOnlyList<FailoverSnapshotRow> created, int taken, CancellationToken ct)
        {
            if (created.Count == 0)
            {
                await scope.InfoAsync(taken == 0
                    ? "the failover took no snapshots (a live failover): nothing to revert"
                    : "every volume is already back at its snapshot", ct);
                return;
            }
            foreach (var s in created)
            {
                await mediator.Send(new RevertVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), ct);
                await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Reverted, Now, CancellationToken.None);
                await scope.InfoAsync($"volume {s.VolumeId} reverted to snapshot {s.SnapshotId}: what the test VM wrote is gone", ct);
            }
            _done.Add("volumes reverted to their pre-failover snapshots");
        }

        private async Task DeleteSnapshotsAsync(IReadOnlyList<FailoverSnapshotRow> left, CancellationToken ct)
        {
            if (left.Count == 0)
            {
                await scope.InfoAsync("no snapshots left to delete", ct);
                return;
            }
            foreach (var s in left)
            {
                await mediator.Send(new DeleteVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), ct);
                await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Deleted, Now, CancellationToken.None);
                await scope.InfoAsync($"snapshot {s.SnapshotId} of volume {s.VolumeId} deleted", ct);
            }
            _done.Add($"{left.Count} snapshot(s) deleted");
        }
    }
}
