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
/// Undoes a failover that failed part-way, from what is recorded (failover row, snapshots, the
/// step it reached) and what OSSEA shows, so it also works after an OMA restart: the VM stopped,
/// its volumes detached, the VM destroyed; the volumes reverted to their snapshots if the VM ran;
/// the volumes attached to the OMA again with their exports; snapshots deleted; the hold released.
/// It stops at the first step that fails (later steps need the earlier ones) and keeps the
/// replication held then, so no sync writes into volumes in an unknown place.
/// </summary>
internal sealed class FailoverRollback(FailoverStore store, IMediator mediator, TimeProvider time)
{
    private static readonly HashSet<string> ActiveVmStates = new(StringComparer.OrdinalIgnoreCase) { "Running", "Starting", "Stopping", "Migrating" };
    private static readonly HashSet<string> GoneVmStates = new(StringComparer.OrdinalIgnoreCase) { "Destroyed", "Expunging", "Expunged" };

    public async Task<RollbackOutcome> RunAsync(Guid id, string? reached, IJobScope scope, CancellationToken ct)
    {
        var done = new List<string>();
        var current = "rollback";
        string? note = null;
        try
        {
            var row = await store.GetAsync(id, ct) ?? throw new FailoverException($"failover {id} no longer exists");
            if (row.JobType == FailoverTypes.Live && row.Options.ShutdownSource
                && (FailoverSteps.Reached(reached, FailoverSteps.FinalSync) || reached == FailoverSteps.Virtio))
            {
                note = $"The source VM {row.VmId} may have been shut down for the final sync; it stays off until you power it on in vCenter";
            }
            await scope.WarnAsync($"rolling back failover {id} (it stopped at '{reached ?? "the start"}')", ct);
            var replication = await mediator.Send(new GetReplicationQuery(row.ReplicationJobId), ct)
                ?? throw new FailoverException($"replication {row.ReplicationJobId} no longer exists");
            var configId = replication.OsseaConfigId;
            var vmStarted = FailoverSteps.Reached(reached, FailoverSteps.StartVm);

            if (FailoverSteps.Reached(reached, FailoverSteps.CreateVm) && await FindVmAsync(row, configId, scope, ct) is { } vm)
            {
                vmStarted |= ActiveVmStates.Contains(vm.State);
                if (ActiveVmStates.Contains(vm.State))
                {
                    current = FailoverSteps.RollbackStopVm;
                    await scope.RunStepAsync(current, c => mediator.Send(new StopVirtualMachineCommand(configId, vm.VmId, Forced: true), c), ct);
                    done.Add($"VM {vm.VmId} stopped");
                }
                current = FailoverSteps.RollbackDetach;
                var detached = await scope.RunStepAsync(current, c => DetachFromVmAsync(replication, vm.VmId, scope, c), ct);
                if (detached > 0)
                {
                    done.Add($"{detached} volume(s) detached from it");
                }
                current = FailoverSteps.RollbackDestroy;
                await scope.RunStepAsync(current, c => mediator.Send(new DestroyVirtualMachineCommand(configId, vm.VmId), c), ct);
                done.Add($"VM {vm.VmId} destroyed");
            }

            var snapshots = (await store.SnapshotsAsync(id, ct)).Where(s => s.Status != FailoverSnapshotStatuses.Deleted).ToList();
            if (vmStarted && snapshots.Any(s => s.Status == FailoverSnapshotStatuses.Created))
            {
                current = FailoverSteps.RollbackRevert;
                await scope.RunStepAsync(current, async c =>
                {
                    foreach (var s in snapshots.Where(s => s.Status == FailoverSnapshotStatuses.Created))
                    {
                        await mediator.Send(new RevertVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), c);
                        await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Reverted, Now, CancellationToken.None);
                        await scope.InfoAsync($"volume {s.VolumeId} reverted to snapshot {s.SnapshotId}: what the VM wrote is gone", c);
                    }
                }, ct);
                done.Add("volumes reverted to their pre-failover snapshots");
            }
            else
            {
                foreach (var s in snapshots.Where(s => s.Status == FailoverSnapshotStatuses.Created))
                {
                    // Nothing ran on the volume: it still holds the snapshot's data.
                    await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Unused, Now, ct);
                }
            }

            if (FailoverSteps.Reached(reached, FailoverSteps.DetachFromOma))
            {
                current = FailoverSteps.RollbackRestore;
                await scope.RunStepAsync(current, c => mediator.Send(new RestoreReplicationTargetsCommand(row.ReplicationJobId), c), ct);
                done.Add("volumes attached to the OMA again with their NBD exports");
            }

            if (snapshots.Count > 0)
            {
                current = FailoverSteps.RollbackDeleteSnapshots;
                await scope.RunStepAsync(current, async c =>
                {
                    foreach (var s in snapshots)
                    {
                        await mediator.Send(new DeleteVolumeSnapshotCommand(s.VolumeId, s.SnapshotId), c);
                        await store.SetSnapshotStatusAsync(id, s.VolumeId, FailoverSnapshotStatuses.Deleted, Now, CancellationToken.None);
                    }
                }, ct);
                done.Add($"{snapshots.Count} snapshot(s) deleted");
            }

            if (FailoverSteps.Reached(reached, FailoverSteps.Hold))
            {
                current = FailoverSteps.RollbackRelease;
                await scope.RunStepAsync(current, c => mediator.Send(new ReleaseReplicationCommand(row.ReplicationJobId, FailoverNaming.HoldReason(id)), c), ct);
                done.Add("replication released");
            }
            return new RollbackOutcome(id, done, null, note);
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            await scope.WarnAsync($"rollback stopped at '{current}': {ex.Message}", CancellationToken.None);
            return new RollbackOutcome(id, done, $"'{current}': {ex.Message.TrimEnd('.')}", note);
        }
    }

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>The failover's VM: by the recorded id, else by its name (a create whose answer was lost).</summary>
    private async Task<VirtualMachineView?> FindVmAsync(FailoverRow row, int configId, IJobScope scope, CancellationToken ct)
    {
        var vm = row.DestinationVmId is { } known
            ? await mediator.Send(new GetVirtualMachineQuery(configId, known), ct)
            : await mediator.Send(new FindVirtualMachineByNameQuery(configId, row.Options.VmName), ct);
        if (vm is null || GoneVmStates.Contains(vm.State))
        {
            await scope.InfoAsync(row.DestinationVmId is { } id ? $"VM {id} no longer exists" : $"no VM named '{row.Options.VmName}' was created", ct);
            return null;
        }
        if (row.DestinationVmId is null)
        {
            await store.SetDestinationAsync(row.Id, vm.VmId, Now, ct);
            await scope.WarnAsync($"found VM {vm.VmId} by its name '{vm.Name}' (its id had not been recorded); recorded now", ct);
        }
        return vm;
    }

    /// <summary>
    /// Detaches every replication volume that is not on the OMA. Volumes recorded on the VM are the
    /// expected case; the others are asked too, because an attach whose answer was lost is attached
    /// in OSSEA without a record, and destroying the VM with expunge would delete a ROOT volume with it.
    /// </summary>
    private async Task<int> DetachFromVmAsync(ReplicationJobView replication, string vmId, IJobScope scope, CancellationToken ct)
    {
        var detached = 0;
        foreach (var disk in replication.Disks.Where(d => d.OsseaVolumeId is not null))
        {
            var volume = await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), ct);
            if (volume is null || volume.Mapping is { OperationMode: "oma" })
            {
                continue;
            }
            await mediator.Send(new DetachVolumeCommand(volume.VolumeId), ct);
            if ((volume.Mapping?.VmId ?? volume.AttachedVmId) == vmId)
            {
                await scope.InfoAsync($"volume {volume.VolumeId} (disk {disk.DiskId}) detached from VM {vmId}", ct);
                detached++;
            }
        }
        return detached;
    }
}
