using System.Globalization;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Vma;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Replication.Sync;

internal sealed partial class ReplicationRun
{
    /// <summary>
    /// After the copy and before the snapshot goes: both sides hash what this sync wrote — vCenter's
    /// areas since the disk's base change id (from its cbt_history row) plus the ranges a previous
    /// verification recorded — SHA-256 per chunk of Replication:VerifyChunkBytes, the VMA reading the
    /// snapshot and the Volume module the OMA-attached device. A difference is stored per disk, the
    /// snapshot removed (the change ids are already recorded) and the run fails; the next sync copies
    /// those ranges again with CBT's changes.
    /// </summary>
    private async Task VerifyAsync(CancellationToken ct)
    {
        var snapshot = _job.SnapshotId ?? throw new ReplicationRunFailedException("no snapshot to verify against");
        var failures = new List<string>();
        foreach (var disk in (await store.SyncDisksAsync(jobId, ct)).Where(d => _present.Contains(d.DiskId) && d.OsseaVolumeId is not null))
        {
            if (disk.SyncStatus != DiskSyncStatuses.Completed || disk.DiskChangeId is null)
            {
                throw new ReplicationRunFailedException($"disk {disk.DiskId} is not complete; nothing to verify");
            }
            var basis = await store.CompletionBaseAsync(disk.Id, disk.DiskChangeId, ct);
            // Without its history row the base is unknown: every allocated area is a safe superset.
            var baseChangeId = basis is { SyncType: CbtSyncTypes.Incremental, PreviousChangeId: { } previous } ? previous : "*";
            var extra = VerifyRanges.Parse(disk.VerifyMismatchRanges);
            var volume = await mediator.Send(new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), ct)
                ?? throw new ReplicationRunFailedException($"disk {disk.DiskId}: its volume no longer exists");
            var (bytes, chunks, mismatches) = await VerifyDiskAsync(snapshot, disk.DiskId, disk.CapacityBytes, baseChangeId, extra, volume.VolumeId, ct);
            await store.SetMismatchesAsync(disk.Id, VerifyRanges.Serialize(mismatches), Now, ct);
            var what = $"disk {disk.DiskId}: {chunks} chunk(s), {bytes} bytes since {(baseChangeId == "*" ? "the start (full copy)" : $"change id {baseChangeId}")}"
                + (extra.Count > 0 ? $" plus {extra.Count} recopied range(s)" : "");
            if (mismatches.Count == 0)
            {
                await scope.InfoAsync($"{what}: source and target equal (SHA-256)", ct);
                continue;
            }
            var message = $"disk {disk.DiskId}: {mismatches.Count} range(s) differ ({VerifyRanges.Describe(mismatches)})";
            await scope.WarnAsync($"{what}: {mismatches.Count} range(s) differ: {VerifyRanges.Describe(mismatches, 20)}", ct);
            failures.Add(message);
        }
        if (failures.Count == 0)
        {
            return;
        }
        // The change ids are recorded: VMware's order says the snapshot goes now; the next sync takes a new one.
        var deleted = await CallAsync(c => c.DeleteSnapshotAsync(_vm, snapshot, ct), ct);
        await scope.InfoAsync(deleted ? $"snapshot {snapshot} deleted" : $"snapshot {snapshot} was already gone", ct);
        await store.ClearSnapshotAsync(jobId, Now, ct);
        throw new ReplicationRunFailedException(
            $"verification failed: {string.Join("; ", failures)}; the next sync copies those ranges again");
    }

    private async Task<(long Bytes, int Chunks, IReadOnlyList<VmaByteRange> Mismatches)> VerifyDiskAsync(
        string snapshot, string diskId, long capacity, string baseChangeId, IReadOnlyList<VmaByteRange> extra, string volumeId, CancellationToken ct)
    {
        var key = int.Parse(diskId, CultureInfo.InvariantCulture);
        var mismatches = new List<VmaByteRange>();
        long bytes = 0;
        var chunks = 0;
        long from = 0;
        // Each answer covers up to VerifyPageBytes of the disk, so this many pages always reach its end.
        var maxPages = capacity / options.VerifyPageBytes + 2;
        for (var page = 0L; ; page++)
        {
            if (page >= maxPages)
            {
                throw new ReplicationRunFailedException($"disk {diskId}: the agent's hashes did not reach the end of the disk after {maxPages} requests");
            }
            var request = new VmaHashRequest(baseChangeId, extra.Count > 0 ? extra : null, options.VerifyChunkBytes, from, options.VerifyPageBytes);
            VmaDiskHashes answer;
            try
            {
                answer = await CallAsync(c => c.HashDiskAsync(_vm, snapshot, key, request, options.VerifyRequestTimeout, ct), ct);
            }
            catch (VmaApiException ex)
            {
                throw new ReplicationRunFailedException($"disk {diskId}: the agent could not hash the source: {ex.Detail}", ex);
            }
            if (answer.Chunks.Count > 0)
            {
                var target = await mediator.Send(new HashVolumeRangesQuery(volumeId,
                    [.. answer.Chunks.Select(c => new VolumeByteRange(c.Offset, c.Length))]), ct);
                foreach (var m in VerifyRanges.Mismatches(answer.Chunks, target))
                {
                    if (mismatches.Count > 0 && mismatches[^1].Offset + mismatches[^1].Length == m.Offset)
                    {
                        mismatches[^1] = mismatches[^1] with { Length = mismatches[^1].Length + m.Length };
                    }
                    else
                    {
                        mismatches.Add(m);
                    }
                }
                bytes += answer.BytesHashed;
                chunks += answer.Chunks.Count;
            }
            if (answer.NextOffset is not { } next)
            {
                return (bytes, chunks, mismatches);
            }
            if (next <= from)
            {
                throw new ReplicationRunFailedException($"disk {diskId}: the agent's hashes did not advance past offset {from}");
            }
            from = next;
        }
    }
}
