using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Vma;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>
/// Removes the VMware snapshots a job that is not running left behind (a failed run keeps its
/// snapshot for the next attempt; a lost create answer leaves one unrecorded): the recorded one and
/// any carrying the job's own snapshot name, never anyone else's.
/// </summary>
internal sealed class LeftoverSnapshots(ReplicationStore store, IAgentChannel channel, ReplicationOptions options, IMediator mediator, TimeProvider time)
{
    /// <summary>True when nothing of this job is left on the VM (or there was no agent to ask and nothing recorded).</summary>
    public async Task<bool> RemoveAsync(ReplicationJobRow job, IJobScope scope, CancellationToken ct)
    {
        var agent = (await mediator.Send(new ListAgentsQuery(), ct)).FirstOrDefault(a => a.Id == job.VmaAgentId);
        if (agent is null || agent.RevokedAt is not null)
        {
            if (job.SnapshotId is not null)
            {
                await scope.WarnAsync($"snapshot {job.SnapshotId} may remain on VM {job.SourceVmId}: the job's agent is gone; remove it in vCenter", ct);
            }
            return job.SnapshotId is null;
        }
        using var vma = new VmaApiClient(channel, agent.Name, options.RequestTimeout);
        var vm = job.SourceVmPath ?? job.SourceVmId;
        var name = ReplicationRun.SnapshotName(job.Id);
        try
        {
            var spec = await vma.GetVmAsync(vm, ct);
            if (spec is null)
            {
                await scope.InfoAsync($"VM '{vm}' no longer exists; no snapshot to remove", ct);
                await store.ClearSnapshotAsync(job.Id, time.GetUtcNow().UtcDateTime, ct);
                return true;
            }
            var ours = (spec.Snapshots ?? []).Where(s => s.Name == name || s.SnapshotId == job.SnapshotId).ToList();
            foreach (var snapshot in ours)
            {
                var deleted = await vma.DeleteSnapshotAsync(spec.Moref, snapshot.SnapshotId, ct);
                await scope.InfoAsync(deleted ? $"leftover snapshot {snapshot.SnapshotId} ('{snapshot.Name}') removed" : $"snapshot {snapshot.SnapshotId} was already gone", ct);
            }
            if (ours.Count == 0)
            {
                await scope.InfoAsync("no snapshot of this job on the VM", ct);
            }
            await store.ClearSnapshotAsync(job.Id, time.GetUtcNow().UtcDateTime, ct);
            return true;
        }
        catch (Exception ex) when (ex is VmaUnavailableException or VmaApiException)
        {
            await scope.WarnAsync($"could not remove snapshots named '{name}' from VM '{vm}': {ex.Message}; remove them in vCenter", ct);
            return false;
        }
    }
}
