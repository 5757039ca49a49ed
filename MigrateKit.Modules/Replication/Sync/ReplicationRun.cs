using System.Globalization;
using System.Text;
using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Vma;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Modules.Volume.Contracts;
using MySqlConnector;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>A run ends without completing for a reason an operator must read (the job's error_message).</summary>
internal sealed class ReplicationRunFailedException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// One sync of one replication job, inside its job-log job: discover → CBT → volumes → snapshot →
/// copy → finish. Everything it must know after a restart is in the database (snapshot id, VMA
/// sync id, per-disk checkpoints and change ids), so a new run picks up where this one stopped.
/// </summary>
internal sealed partial class ReplicationRun(
    Guid jobId,
    DateTime runStartedAt,
    IJobScope scope,
    ReplicationStore store,
    IMediator mediator,
    VmaApiClient vma,
    ReplicationOptions options,
    TimeProvider time,
    CancellationTokenSource operatorCancel)
{
    private const long GiB = 1L << 30;
    private DateTimeOffset? _unreachableSince;
    private string _vm = "";
    private HashSet<string> _present = [];
    private ReplicationJobRow _job = null!;

    private DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>The name every VMware snapshot of this job gets: how leftovers are told from anyone else's.</summary>
    public static string SnapshotName(Guid jobId) => $"migratekit-{jobId.ToString("N")[..8]}";

    public async Task ExecuteAsync(CancellationToken ct)
    {
        _job = await store.GetJobAsync(jobId, ct) ?? throw new ReplicationRunFailedException($"replication {jobId} no longer exists");
        await scope.InfoAsync(
            $"{(_job.ReplicationType == ReplicationTypes.Initial ? "full" : "incremental")} sync of VM '{_job.SourceVmName}' through agent '{vma.Agent}'", ct);

        var spec = await StepAsync("discover VM", "discovering the VM", DiscoverAsync, ct);
        await StepAsync("ensure CBT", "enabling change block tracking", c => EnsureCbtAsync(spec, c), ct);
        await StepAsync("prepare volumes", "preparing target volumes", c => PrepareVolumesAsync(spec, c), ct);
        if (_job.SnapshotId is null)
        {
            await StepAsync("snapshot", "taking a VM snapshot", c => SnapshotAsync(spec, c), ct);
        }
        else
        {
            await scope.InfoAsync($"resuming with snapshot {_job.SnapshotId} (VMA sync {_job.CurrentSyncId ?? "not started"}) from the saved checkpoints", ct);
        }
        await StepAsync("copy disks", "copying disks", CopyAsync, ct);
        if (_job.VerifyAfterSync)
        {
            await StepAsync("verify", "verifying what was copied", VerifyAsync, ct);
        }
        await StepAsync("finish", "recording the sync", FinishAsync, ct);
    }

    private async Task<T> StepAsync<T>(string name, string operation, Func<CancellationToken, Task<T>> body, CancellationToken ct)
    {
        await store.SetOperationAsync(jobId, operation, Now, ct);
        return await scope.RunStepAsync(name, body, ct);
    }

    private Task StepAsync(string name, string operation, Func<CancellationToken, Task> body, CancellationToken ct) =>
        StepAsync(name, operation, async c =>
        {
            await body(c);
            return true;
        }, ct);

    // ---- discover ----

    private async Task<VmaVmSpec> DiscoverAsync(CancellationToken ct)
    {
        var key = _job.SourceVmPath ?? _job.SourceVmId;
        var spec = await CallAsync(c => c.GetVmAsync(key, ct), ct)
            ?? throw new ReplicationRunFailedException($"agent '{vma.Agent}' knows no VM '{key}'");
        try
        {
            await store.SetDiscoveredAsync(jobId, spec.Moref, spec.Name, spec.Path, Now, ct);
        }
        catch (MySqlException ex) when (ex.ErrorCode == MySqlErrorCode.DuplicateKeyEntry)
        {
            throw new ReplicationRunFailedException($"VM {spec.Moref} ('{spec.Name}') is already replicated by another active job", ex);
        }
        _vm = spec.Moref;
        // What a failover plans the OSSEA VM from, without reaching the VMA then.
        await store.SetSourceSpecAsync(jobId, SourceSpecJson.Serialize(SourceSpecJson.From(spec, Now)), Now, ct);
        await scope.InfoAsync(
            $"VM {spec.Moref} '{spec.Name}' ({spec.Path}): {spec.Disks.Count} disk(s), {spec.Disks.Sum(d => d.CapacityBytes) / (double)GiB:0.##} GiB, {spec.Nics?.Count ?? 0} NIC(s), CBT {(spec.CbtEnabled ? "on" : "off")}",
            ct);
        if (spec.Disks.Count == 0)
        {
            throw new ReplicationRunFailedException($"VM {spec.Moref} has no disks to replicate");
        }
        return spec;
    }

    private async Task EnsureCbtAsync(VmaVmSpec spec, CancellationToken ct)
    {
        if (spec.CbtEnabled)
        {
            await scope.InfoAsync("CBT is already enabled", ct);
            return;
        }
        try
        {
            var status = await CallAsync(c => c.EnableCbtAsync(_vm, ct), ct);
            await scope.InfoAsync($"CBT enabled (supported: {status.Supported})", ct);
        }
        catch (VmaApiException ex) when (ex.Status == System.Net.HttpStatusCode.Conflict)
        {
            throw new ReplicationRunFailedException($"CBT cannot be enabled on VM {_vm}: {ex.Detail}", ex);
        }
    }

    // ---- volumes ----

    private async Task PrepareVolumesAsync(VmaVmSpec spec, CancellationToken ct)
    {
        await store.UpsertDisksAsync(jobId, spec.Disks.Select(d => new DiskSpecRow(
            d.DeviceKey.ToString(CultureInfo.InvariantCulture), d.FileName ?? "", d.CapacityBytes, d.Datastore, d.UnitNumber, d.Label,
            d.ProvisioningType)), Now, ct);
        var present = spec.Disks.Select(d => d.DeviceKey.ToString(CultureInfo.InvariantCulture)).ToHashSet();
        _present = present;
        foreach (var disk in await store.SyncDisksAsync(jobId, ct))
        {
            if (!present.Contains(disk.DiskId))
            {
                await scope.WarnAsync($"disk {disk.DiskId} is no longer on the VM; it is not synced (its volume stays)", ct);
                continue;
            }
            await EnsureTargetAsync(spec.Name, disk, ct);
        }
    }

    private async Task<NbdExportView> EnsureTargetAsync(string vmName, SyncDiskRow disk, CancellationToken ct)
    {
        var unit = disk.UnitNumber?.ToString(CultureInfo.InvariantCulture) ?? disk.DiskId;
        var exportName = disk.NbdExportName ?? $"migration-{Slug(vmName)}-{jobId.ToString("N")[..8]}-disk-{unit}";
        var volume = disk.OsseaVolumeId is long rowId ? await mediator.Send(new GetVolumeByRowIdQuery(rowId), ct) : null;
        if (volume is null)
        {
            volume = await mediator.Send(new CreateVolumeCommand(_job.OsseaConfigId, exportName, disk.CapacityBytes), ct);
            // Recorded at once: a crash after this must find the volume again, never create a second one.
            await store.SetDiskTargetAsync(disk.Id, volume.Id, exportName, Now, ct);
            await scope.InfoAsync($"disk {disk.DiskId}: created volume {volume.VolumeId} ({volume.SizeBytes / (double)GiB:0.##} GiB)", ct);
        }
        else if (volume.Mapping is { OperationMode: not OperationModes.Oma } mapping)
        {
            throw new ReplicationRunFailedException(
                $"disk {disk.DiskId}: volume {volume.VolumeId} is attached to VM {mapping.VmId} ({mapping.OperationMode}), not the OMA; clean that up first");
        }
        if (volume.SizeBytes < disk.CapacityBytes)
        {
            throw new ReplicationRunFailedException(
                $"disk {disk.DiskId} grew to {disk.CapacityBytes} bytes but volume {volume.VolumeId} has {volume.SizeBytes}; resize the volume first");
        }
        await mediator.Send(new AttachVolumeCommand(volume.VolumeId), ct);
        var export = await mediator.Send(new EnsureNbdExportCommand(volume.VolumeId, exportName), ct);
        if (disk.NbdExportName != exportName || disk.OsseaVolumeId != volume.Id)
        {
            await store.SetDiskTargetAsync(disk.Id, volume.Id, exportName, Now, ct);
        }
        return export;
    }

    private static string Slug(string name)
    {
        var sb = new StringBuilder();
        foreach (var c in name.ToLowerInvariant())
        {
            sb.Append(char.IsAsciiLetterOrDigit(c) ? c : '-');
        }
        var slug = sb.ToString().Trim('-');
        return slug.Length == 0 ? "vm" : slug[..Math.Min(slug.Length, 40)];
    }

    // ---- snapshot ----

    private async Task SnapshotAsync(VmaVmSpec spec, CancellationToken ct)
    {
        var name = SnapshotName(jobId);
        // Ours but not recorded: a create whose answer was lost, or a run that died before saving it.
        foreach (var leftover in (spec.Snapshots ?? []).Where(s => s.Name == name))
        {
            await CallAsync(c => c.DeleteSnapshotAsync(_vm, leftover.SnapshotId, ct), ct);
            await scope.WarnAsync($"removed leftover snapshot {leftover.SnapshotId} of this job", ct);
        }
        var snapshot = await CallAsync(c => c.CreateSnapshotAsync(_vm, name, $"MigrateKit replication {jobId}", ct), ct);
        await store.BeginSnapshotAsync(jobId, snapshot.SnapshotId, Now, ct);
        _job = (await store.GetJobAsync(jobId, ct))!;
        await scope.InfoAsync($"snapshot {snapshot.SnapshotId} taken", ct);
    }

    // ---- copy ----

    private async Task CopyAsync(CancellationToken ct)
    {
        var restarts = 0;
        // Every round either finishes disks, resets one disk's CBT once, or counts as a restart: bounded.
        var rounds = 2 * _present.Count + options.MaxSyncRestarts + 2;
        for (var round = 0; ; round++)
        {
            _job = (await store.GetJobAsync(jobId, ct))!;
            if (_job.Status == ReplicationStatuses.Cancelled)
            {
                await CancelAsync(_job.CurrentSyncId);
            }
            var disks = await store.SyncDisksAsync(jobId, ct);
            var pending = disks.Where(d => d.SyncStatus != DiskSyncStatuses.Completed && _present.Contains(d.DiskId)
                && d.NbdExportName is not null && d.OsseaVolumeId is not null).ToList();
            if (pending.Count == 0)
            {
                return;
            }
            if (round >= rounds)
            {
                throw new ReplicationRunFailedException(
                    $"disks {string.Join(", ", pending.Select(d => d.DiskId))} did not complete after {rounds} agent syncs");
            }
            VmaSyncProgress? progress = null;
            if (_job.CurrentSyncId is { } known)
            {
                progress = await CallAsync(c => c.GetProgressAsync(known, ct), ct);
                await scope.InfoAsync(progress is null
                    ? $"agent no longer knows sync {known}; starting a new one from the saved checkpoints"
                    : $"following VMA sync {known} ({progress.State})", ct);
            }
            var syncId = progress is null ? await StartSyncAsync(pending, ct) : _job.CurrentSyncId!;
            var final = await FollowAsync(syncId, ct);
            await store.SetCurrentSyncAsync(jobId, null, Now, ct);
            if (final?.State == VmaSyncStates.CbtReset)
            {
                await HandleCbtResetAsync(final, ct);
                continue;
            }
            var unfinished = (await store.SyncDisksAsync(jobId, ct))
                .Where(d => d.SyncStatus != DiskSyncStatuses.Completed && pending.Any(p => p.Id == d.Id)).Select(d => d.DiskId).ToList();
            if (final?.State == VmaSyncStates.Completed && unfinished.Count == 0)
            {
                continue;
            }
            // Failed, cancelled by someone else, forgotten by a restarted agent, or a disk without a new change id.
            var reason = final is null ? $"agent forgot sync {syncId}"
                : final.State == VmaSyncStates.Completed ? $"sync {syncId} completed without a change id for disks {string.Join(", ", unfinished)}"
                : $"sync {syncId} {final.State}: {final.Error ?? string.Join("; ", final.Disks.Where(d => d.Error is not null).Select(d => $"disk {d.DeviceKey}: {d.Error}"))}";
            if (++restarts > options.MaxSyncRestarts)
            {
                throw new ReplicationRunFailedException($"{reason} (gave up after {options.MaxSyncRestarts} restarts)");
            }
            await scope.WarnAsync($"{reason}; restarting unfinished disks from their checkpoints ({restarts}/{options.MaxSyncRestarts})", ct);
            await Task.Delay(options.AgentRetryDelay, time, ct);
        }
    }

    private async Task<string> StartSyncAsync(IReadOnlyList<SyncDiskRow> pending, CancellationToken ct)
    {
        var syncId = $"repl-{jobId.ToString("N")[..12]}-{time.GetUtcNow().ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture)}";
        var disks = pending.Select(d => new VmaSyncDisk(
            int.Parse(d.DiskId, CultureInfo.InvariantCulture), d.NbdExportName!, d.DiskChangeId ?? "*", d.SyncCheckpoint)
        {
            // What a verification found different is copied again with CBT's changes.
            ExtraRanges = VerifyRanges.Parse(d.VerifyMismatchRanges) is { Count: > 0 } extra ? extra : null,
        }).ToList();
        // The id is saved before the agent hears of it: after a crash we ask for it rather than start a second copy.
        await store.SetCurrentSyncAsync(jobId, syncId, Now, ct);
        try
        {
            await CallAsync(c => c.StartSyncAsync(new VmaSyncRequest(syncId, _vm, _job.SnapshotId!, disks, _job.BandwidthLimitBps), ct), ct);
        }
        catch (VmaApiException ex) when (ex.Status == System.Net.HttpStatusCode.Conflict)
        {
            // A retried start whose first attempt reached the agent: it already runs this sync.
            await scope.InfoAsync($"agent already runs sync {syncId}", ct);
        }
        foreach (var d in disks)
        {
            await scope.InfoAsync((d.ChangeId == "*"
                ? $"disk {d.DeviceKey}: full copy into export {d.ExportName} from offset {d.StartOffset}"
                : $"disk {d.DeviceKey}: incremental copy since change id {d.ChangeId} from offset {d.StartOffset}")
                + (d.ExtraRanges is { } extra ? $", plus {extra.Count} range(s) a verification found different ({VerifyRanges.Describe(extra)})" : ""), ct);
        }
        await scope.InfoAsync($"VMA sync {syncId} started{(_job.BandwidthLimitBps is { } bw ? $", limited to {bw} bytes/s" : "")}", ct);
        return syncId;
    }

    /// <summary>Polls the sync, persisting progress and each finished disk, until it ends; null when the agent forgot it.</summary>
    private async Task<VmaSyncProgress?> FollowAsync(string syncId, CancellationToken ct)
    {
        while (true)
        {
            if (await store.StatusAsync(jobId, ct) is ReplicationStatuses.Cancelled)
            {
                await CancelAsync(syncId);
            }
            var progress = await CallAsync(c => c.GetProgressAsync(syncId, ct), ct);
            if (progress is null)
            {
                return null;
            }
            var disks = (await store.SyncDisksAsync(jobId, ct)).ToDictionary(d => d.DiskId);
            foreach (var p in progress.Disks.Where(p => p.State == VmaSyncStates.Completed && p.NewChangeId is not null))
            {
                if (disks.TryGetValue(p.DeviceKey.ToString(CultureInfo.InvariantCulture), out var disk) && disk.SyncStatus != DiskSyncStatuses.Completed)
                {
                    await CompleteDiskAsync(disk, p, ct);
                }
            }
            var rows = progress.Disks
                .Where(p => p.State != VmaSyncStates.Completed && disks.ContainsKey(p.DeviceKey.ToString(CultureInfo.InvariantCulture)))
                .Select(p => new DiskProgressRow(disks[p.DeviceKey.ToString(CultureInfo.InvariantCulture)].Id, DiskStatus(p.State),
                    (decimal)p.Percent, p.BytesDone, p.ExtentsDone, p.Checkpoint));
            await store.RecordProgressAsync(jobId, rows, (long)progress.RateBytesPerSecond, Now, ct);
            if (progress.IsFinal)
            {
                return progress;
            }
            await Task.Delay(options.PollInterval, time, ct);
        }
    }

    /// <summary>The agent's state of an unfinished disk as vm_disks.sync_status (completed disks are recorded by <see cref="CompleteDiskAsync"/>).</summary>
    internal static string DiskStatus(string vmaState) => vmaState switch
    {
        VmaSyncStates.Queued => DiskSyncStatuses.Pending,
        VmaSyncStates.Querying or VmaSyncStates.Copying => DiskSyncStatuses.Syncing,
        VmaSyncStates.Cancelled => DiskSyncStatuses.Interrupted,
        VmaSyncStates.Failed => DiskSyncStatuses.Failed,
        VmaSyncStates.CbtReset => DiskSyncStatuses.CbtReset,
        // A state a newer agent may report: the disk is not done, and the column only takes known states.
        _ => DiskSyncStatuses.Syncing,
    };

    private async Task CompleteDiskAsync(SyncDiskRow disk, VmaDiskProgress p, CancellationToken ct)
    {
        var full = p.BaseChangeId is null or "*";
        var reason = full ? disk.FullCopyReason ?? (disk.DiskChangeId is null ? "first full copy" : null) : null;
        var recorded = await store.CompleteDiskAsync(jobId, disk,
            new DiskCompletion(p.NewChangeId!, full, p.DataBytesSent + p.ZeroBytesSent, p.ExtentsDone, reason), scope.JobId, Now, ct);
        if (recorded)
        {
            await scope.InfoAsync(
                $"disk {disk.DiskId}: {(full ? "full" : "incremental")} copy complete, {p.ExtentsDone} extent(s), {p.DataBytesSent} data + {p.ZeroBytesSent} zero bytes; change id {p.NewChangeId} recorded",
                ct);
        }
    }

    private async Task HandleCbtResetAsync(VmaSyncProgress progress, CancellationToken ct)
    {
        var disks = (await store.SyncDisksAsync(jobId, ct)).ToDictionary(d => d.DiskId);
        foreach (var p in progress.Disks.Where(p => p.State == VmaSyncStates.CbtReset))
        {
            if (!disks.TryGetValue(p.DeviceKey.ToString(CultureInfo.InvariantCulture), out var disk))
            {
                continue;
            }
            var rejected = disk.DiskChangeId ?? p.BaseChangeId ?? "?";
            var reason = $"CBT reset: vCenter rejected change id {rejected}; full copy";
            await scope.WarnAsync($"disk {disk.DiskId}: {reason}", ct);
            // A full copy writes only what is allocated on the source: the target must hold zeroes everywhere else.
            var export = await EnsureTargetAsync(_job.SourceVmName, disk, ct);
            await mediator.Send(new ZeroVolumeCommand(export.VolumeId), ct);
            await scope.InfoAsync($"disk {disk.DiskId}: target export {export.ExportName} zeroed", ct);
            await store.RecordCbtResetAsync(jobId, disk, rejected, reason, scope.JobId, Now, ct);
        }
    }

    private async Task CancelAsync(string? syncId)
    {
        // The operator's cancel must reach the agent even though this run is being torn down.
        using var cts = new CancellationTokenSource(options.RequestTimeout);
        try
        {
            if (syncId is not null)
            {
                await vma.CancelSyncAsync(syncId, cts.Token);
            }
            await scope.InfoAsync($"cancelled by an operator{(syncId is null ? "" : $"; VMA sync {syncId} cancelled")}", cts.Token);
            if (_job.SnapshotId is { } snapshot && await vma.DeleteSnapshotAsync(_vm, snapshot, cts.Token))
            {
                await scope.InfoAsync($"snapshot {snapshot} deleted", cts.Token);
            }
            await store.ClearSnapshotAsync(jobId, Now, cts.Token);
        }
        catch (Exception ex) when (ex is VmaUnavailableException or VmaApiException or OperationCanceledException)
        {
            await scope.WarnAsync($"cancelled by an operator; telling the agent failed: {ex.Message}", CancellationToken.None);
        }
        await operatorCancel.CancelAsync();
        operatorCancel.Token.ThrowIfCancellationRequested();
    }

    // ---- finish ----

    private async Task FinishAsync(CancellationToken ct)
    {
        // VMware's order: change ids recorded (each disk, above) → old snapshot deleted → the next run takes a new one.
        if (_job.SnapshotId is { } snapshot)
        {
            var deleted = await CallAsync(c => c.DeleteSnapshotAsync(_vm, snapshot, ct), ct);
            await scope.InfoAsync(deleted ? $"snapshot {snapshot} deleted" : $"snapshot {snapshot} was already gone", ct);
        }
        if (!await store.FinishRunAsync(jobId, runStartedAt, Now, ct))
        {
            await scope.WarnAsync("the job changed state while it synced (cancelled?); left as it is", ct);
            return;
        }
        var job = (await store.GetJobAsync(jobId, ct))!;
        await scope.InfoAsync($"sync complete; job idle{(job.NextSyncAt is { } next ? $", next sync at {next:O}" : ", next sync on request")}", ct);
    }

    // ---- the agent ----

    /// <summary>
    /// Calls the agent, retrying while it is unreachable (tunnel down, agent restarting) for up to
    /// Replication:AgentTimeout in total; then the run fails with the reason and the volumes stay.
    /// </summary>
    private async Task<T> CallAsync<T>(Func<VmaApiClient, Task<T>> call, CancellationToken ct)
    {
        var warned = false;
        while (true)
        {
            try
            {
                var result = await call(vma);
                if (_unreachableSince is not null)
                {
                    await scope.InfoAsync($"agent '{vma.Agent}' reachable again", ct);
                    _unreachableSince = null;
                }
                return result;
            }
            catch (VmaUnavailableException ex)
            {
                var now = time.GetUtcNow();
                _unreachableSince ??= now;
                if (now - _unreachableSince >= options.AgentTimeout)
                {
                    throw new ReplicationRunFailedException(
                        $"agent '{vma.Agent}' unreachable for {options.AgentTimeout} ({ex.Message.TrimEnd('.')}); the volumes are kept for the next attempt", ex);
                }
                if (!warned)
                {
                    await scope.WarnAsync($"{ex.Message}; retrying for up to {options.AgentTimeout - (now - _unreachableSince.Value)}", ct);
                    warned = true;
                }
                await Task.Delay(options.AgentRetryDelay, time, ct);
            }
        }
    }
}
