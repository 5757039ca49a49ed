using System.Globalization;
using MediatR;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Failover.Run;

/// <summary>
/// One failover, inside its job-log job. Test: preflight → hold → snapshots → (Windows) VirtIO →
/// detach from the OMA → create VM (its id recorded the moment OSSEA reports it) → attach root,
/// then data → start. Live: preflight → hold → final sync → the same VM creation → the
/// replication ends. A failure part-way rolls back (<see cref="FailoverUndo"/>) and says what it undid.
/// </summary>
internal sealed class FailoverRun(
    FailoverRow row,
    IJobScope scope,
    FailoverStore store,
    IMediator mediator,
    FailoverPlanner planner,
    VirtioInjector virtio,
    FailoverUndo undo,
    TimeProvider time)
{
    private FailoverPlan _plan = null!;
    private string? _vmId;

    private bool IsTest => row.JobType == FailoverTypes.Test;
    private string Reason => FailoverNaming.HoldReason(row.Id);
    private DateTime Now => time.GetUtcNow().UtcDateTime;

    public async Task ExecuteAsync(CancellationToken ct)
    {
        await scope.InfoAsync(
            $"{row.JobType} failover {row.Id} of VM {row.VmId} (replication {row.ReplicationJobId}) as OSSEA VM '{row.Options.VmName}'", ct);
        try
        {
            _plan = await StepAsync(FailoverSteps.Preflight, c => planner.PreflightAsync(row, scope, c), ct);
            await StepAsync(FailoverSteps.Hold, async c =>
            {
                await mediator.Send(new HoldReplicationCommand(row.ReplicationJobId, Reason), c);
                await scope.InfoAsync($"replication {row.ReplicationJobId} held ('{Reason}'): no sync starts until it is released", c);
            }, ct);
            if (IsTest)
            {
                await StepAsync(FailoverSteps.Snapshot, SnapshotAsync, ct);
            }
            if (!_plan.IsWindows)
            {
                await scope.InfoAsync($"guest {_plan.Spec.GuestId ?? "unknown"} is not Windows: no VirtIO driver injection", ct);
            }
            else if (IsTest)
            {
                // While the root volume is still attached to the OMA, where the tool can reach it.
                await StepAsync(FailoverSteps.Virtio, InjectVirtioAsync, ct);
            }
            if (!IsTest)
            {
                await StepAsync(FailoverSteps.FinalSync, FinalSyncAsync, ct);
                if (_plan.IsWindows)
                {
                    // After the final sync: the drivers must be in the data the VM boots from.
                    await StepAsync(FailoverSteps.Virtio, InjectVirtioAsync, ct);
                }
            }
            await StepAsync(FailoverSteps.DetachFromOma, DetachFromOmaAsync, ct);
            await StepAsync(FailoverSteps.CreateVm, CreateVmAsync, ct);
            await StepAsync(FailoverSteps.AttachRoot, c => mediator.Send(new AttachVolumeCommand(_plan.Root.Volume.VolumeId, _vmId, AsRoot: true), c), ct);
            await StepAsync(FailoverSteps.AttachData, AttachDataAsync, ct);
            await StepAsync(FailoverSteps.StartVm, StartAsync, ct);
            if (!IsTest)
            {
                await StepAsync(FailoverSteps.MarkFailedOver, async c =>
                {
                    await mediator.Send(new MarkFailedOverCommand(row.ReplicationJobId, Reason), c);
                    await scope.InfoAsync($"replication {row.ReplicationJobId} is failed_over: no more syncs; its volumes are VM {_vmId}'s disks", c);
                }, ct);
            }
        }
        catch (Exception ex) when (!ct.IsCancellationRequested)
        {
            var failedStep = await CurrentStepAsync();
            if (failedStep == FailoverSteps.MarkFailedOver.Key && await ReplicationEndedAsync())
            {
                // The replication did end (only the answer was lost): the cutover is complete, not to be undone.
                await scope.WarnAsync($"marking the replication failed over reported an error ({ex.Message}), but it is failed_over: the failover is complete", CancellationToken.None);
                await store.EndAsync(row.Id, FailoverStatuses.Running, FailoverStatuses.Completed, null, Now, CancellationToken.None);
                return;
            }
            var reason = $"{FailoverSteps.Label(failedStep) ?? "failover"} failed: {ex.Message.TrimEnd('.')}";
            var outcome = await undo.RollBackAsync(row.Id, failedStep, scope, ct);
            var status = outcome.Succeeded ? FailoverStatuses.Failed : FailoverStatuses.RollbackFailed;
            var message = $"{reason}. {outcome.Describe()}";
            await store.EndAsync(row.Id, FailoverStatuses.Running, status, message, Now, CancellationToken.None);
            throw new FailoverException(message, ex);
        }
        await store.EndAsync(row.Id, FailoverStatuses.Running, FailoverStatuses.Completed, null, Now, CancellationToken.None);
        await scope.InfoAsync(IsTest
            ? $"test VM {_vmId} is running; POST /api/v1/failovers/{row.Id}/cleanup removes it and resumes the replication"
            : $"VM {_vmId} is running on OSSEA; the migration of VM {row.VmId} is complete", ct);
    }

    private async Task<bool> ReplicationEndedAsync() =>
        (await mediator.Send(new GetReplicationQuery(row.ReplicationJobId), CancellationToken.None))?.Status == ReplicationStatuses.FailedOver;

    /// <summary>The key of the step the failover reached (as stored, so a rollback after a restart reads the same).</summary>
    private async Task<string?> CurrentStepAsync() => (await store.GetAsync(row.Id, CancellationToken.None))?.CurrentStep;

    private async Task<T> StepAsync<T>(FailoverStep step, Func<CancellationToken, Task<T>> body, CancellationToken ct)
    {
        await store.SetStepAsync(row.Id, step.Key, Now, ct);
        return await scope.RunStepAsync(step.Label, body, ct);
    }

    private Task StepAsync(FailoverStep step, Func<CancellationToken, Task> body, CancellationToken ct) =>
        StepAsync(step, async c =>
        {
            await body(c);
            return true;
        }, ct);

    private async Task SnapshotAsync(CancellationToken ct)
    {
        var taken = (await store.SnapshotsAsync(row.Id, ct)).ToDictionary(s => s.VolumeId, StringComparer.OrdinalIgnoreCase);
        foreach (var p in _plan.All)
        {
            if (taken.TryGetValue(p.Volume.VolumeId, out var existing) && existing.Status == FailoverSnapshotStatuses.Created)
            {
                await scope.InfoAsync($"volume {p.Volume.VolumeId}: snapshot {existing.SnapshotId} already taken", ct);
                continue;
            }
            var name = $"failover-{row.Id.ToString("N")[..8]}-disk-{p.Disk.DiskId}";
            var snapshot = await mediator.Send(new CreateVolumeSnapshotCommand(p.Volume.VolumeId, name), ct);
            // Recorded at once: cleanup and rollback revert and delete exactly what is recorded here.
            await store.UpsertSnapshotAsync(row.Id, p.Volume.VolumeId, snapshot.SnapshotId, FailoverSnapshotStatuses.Created, Now, CancellationToken.None);
            await scope.InfoAsync($"volume {p.Volume.VolumeId} (disk {p.Disk.DiskId}): snapshot {snapshot.SnapshotId} ({snapshot.State})", ct);
        }
    }

    private async Task InjectVirtioAsync(CancellationToken ct)
    {
        if (virtio.MissingPrerequisites() is { } missing)
        {
            throw new FailoverException(missing);
        }
        var device = await mediator.Send(new GetVolumeDeviceQuery(_plan.Root.Volume.VolumeId), ct);
        var path = device?.StableDevicePath ?? device?.DevicePath
            ?? throw new FailoverException($"root volume {_plan.Root.Volume.VolumeId} has no device on the OMA");
        await scope.InfoAsync($"injecting the VirtIO drivers into root volume {_plan.Root.Volume.VolumeId} at {path}", ct);
        var output = await virtio.InjectAsync(path, ct);
        await scope.InfoAsync($"VirtIO drivers injected: {output}", ct);
    }

    private async Task FinalSyncAsync(CancellationToken ct)
    {
        var shutdown = row.Options.ShutdownSource;
        await scope.InfoAsync(shutdown
            ? $"shutting the source VM {row.VmId} down through the VMA, then a final incremental sync"
            : $"final incremental sync; the source VM {row.VmId} keeps running (shutdownSource was not asked for)", ct);
        var job = await mediator.Send(new RunFinalSyncCommand(row.ReplicationJobId, Reason, shutdown), ct);
        await scope.InfoAsync($"final sync complete ({job.BytesTransferred} bytes); last sync completed at {job.LastSyncCompletedAt:O}", ct);
    }

    private async Task DetachFromOmaAsync(CancellationToken ct)
    {
        foreach (var p in _plan.All)
        {
            await mediator.Send(new DetachVolumeCommand(p.Volume.VolumeId), ct);
            await scope.InfoAsync($"volume {p.Volume.VolumeId} (disk {p.Disk.DiskId}): export removed and detached from the OMA", ct);
        }
    }

    private async Task CreateVmAsync(CancellationToken ct)
    {
        var name = row.Options.VmName;
        var display = IsTest ? $"{_plan.Replication.SourceVmName} (test failover)" : _plan.Replication.SourceVmName;
        var vm = await mediator.Send(new CreateVirtualMachineCommand(_plan.Replication.OsseaConfigId, name, FailoverNaming.Owner(row.Id), _plan.Nics)
        {
            DisplayName = display.Length > 255 ? display[..255] : display,
            ServiceOfferingId = _plan.ServiceOfferingId,
            CpuNumber = _plan.CpuNumber,
            MemoryMb = _plan.MemoryMb,
        }, ct);
        _vmId = vm.VmId;
        // The VirtualMachineCreatedNotification handler wrote it already; this repeats it in case of a lost notification.
        await store.SetDestinationAsync(row.Id, vm.VmId, Now, CancellationToken.None);
        await scope.InfoAsync(
            $"VM {vm.VmId} '{vm.Name}' created ({vm.State}) with {vm.Nics.Count} NIC(s): {string.Join(", ", vm.Nics.Select(n => $"{n.NetworkName ?? n.NetworkId} {n.MacAddress}"))}",
            ct);
    }

    private async Task AttachDataAsync(CancellationToken ct)
    {
        if (_plan.Data.Count == 0)
        {
            await scope.InfoAsync("no data volumes", ct);
            return;
        }
        foreach (var p in _plan.Data)
        {
            var mapping = await mediator.Send(new AttachVolumeCommand(p.Volume.VolumeId, _vmId), ct);
            await scope.InfoAsync(
                $"volume {p.Volume.VolumeId} (disk {p.Disk.DiskId}) attached to VM {_vmId} as device {mapping.CloudStackDeviceId?.ToString(CultureInfo.InvariantCulture) ?? "?"}", ct);
        }
    }

    private async Task StartAsync(CancellationToken ct)
    {
        var vm = await mediator.Send(new StartVirtualMachineCommand(_plan.Replication.OsseaConfigId, _vmId!), ct);
        await scope.InfoAsync($"VM {vm.VmId} is {vm.State}", ct);
    }
}
