using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Failover.Contracts;

public static class FailoverStatuses
{
    /// <summary>Stored; the failover worker has not picked it up yet.</summary>
    public const string Pending = "pending";
    public const string Running = "running";
    /// <summary>The OSSEA VM runs (a test VM until cleanup; for a live failover, for good).</summary>
    public const string Completed = "completed";
    /// <summary>Failed part-way and rolled back: the VM is gone, the volumes are back on the OMA with their exports.</summary>
    public const string Failed = "failed";
    /// <summary>Failed, and undoing it failed too; POST cleanup retries the undo.</summary>
    public const string RollbackFailed = "rollback_failed";
    public const string CleaningUp = "cleaning_up";
    public const string CleanedUp = "cleaned_up";
    public const string CleanupFailed = "cleanup_failed";

    /// <summary>Every status; V0025's CHECK on failover_jobs.status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Pending, Running, Completed, Failed, RollbackFailed, CleaningUp, CleanedUp, CleanupFailed];

    /// <summary>States that no longer hold the source VM (V0023's active_vm_key is NULL for them).</summary>
    public static bool IsFinished(string status) => status is Failed or CleanedUp;
}

public static class FailoverTypes
{
    public const string Test = "test";
    public const string Live = "live";
}

/// <summary>States of a pre-failover volume snapshot (failover_snapshots.status).</summary>
public static class FailoverSnapshotStatuses
{
    public const string Created = "created";
    /// <summary>The volume went back to the snapshot (the test VM may have written to it).</summary>
    public const string Reverted = "reverted";
    /// <summary>The test VM never started, so the volume still holds the snapshot's data: no revert needed.</summary>
    public const string Unused = "unused";
    public const string Deleted = "deleted";

    /// <summary>Every status; V0025's CHECK on failover_snapshots.status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Created, Reverted, Unused, Deleted];
}

/// <summary>Which OSSEA network a source network's NICs join; <paramref name="KeepMac"/> keeps the source NIC's MAC address.</summary>
public sealed record NetworkMapping(string SourceNetwork, string OsseaNetworkId, bool KeepMac = false);

/// <summary>The fields both failover requests share (one validator checks them).</summary>
public interface IFailoverRequest
{
    Guid ReplicationId { get; }
    IReadOnlyList<NetworkMapping>? NetworkMappings { get; }
    string? ServiceOfferingId { get; }
    string? VmName { get; }
}

/// <summary>
/// Boots a copy of the replicated VM on OSSEA from snapshotted volumes, leaving the source alone.
/// Runs in the background (202); GET the failover to follow it. Clean it up with POST …/cleanup.
/// </summary>
public sealed record StartTestFailoverCommand : IRequest<FailoverView>, IJobRequest, IFailoverRequest
{
    public Guid ReplicationId { get; init; }
    public IReadOnlyList<NetworkMapping>? NetworkMappings { get; init; }
    /// <summary>Null = the OSSEA config's service offering.</summary>
    public string? ServiceOfferingId { get; init; }
    /// <summary>The OSSEA VM's name; null = the source VM's name plus the failover's short id.</summary>
    public string? VmName { get; init; }

    public JobStart DescribeJob() => new("failover.test.request", "request a test failover", "failover")
    {
        EntityType = "replication",
        EntityId = ReplicationId.ToString(),
    };
}

/// <summary>
/// Cutover: a final incremental sync (shutting the source VM down first only when
/// <see cref="ShutdownSource"/> says so), then the OSSEA VM boots for good and the replication ends.
/// </summary>
public sealed record StartLiveFailoverCommand : IRequest<FailoverView>, IJobRequest, IFailoverRequest
{
    public Guid ReplicationId { get; init; }
    public IReadOnlyList<NetworkMapping>? NetworkMappings { get; init; }
    public string? ServiceOfferingId { get; init; }
    public string? VmName { get; init; }
    public bool ShutdownSource { get; init; }

    public JobStart DescribeJob() => new("failover.live.request", "request a live failover", "failover")
    {
        EntityType = "replication",
        EntityId = ReplicationId.ToString(),
    };
}

public sealed record FailoverSnapshotView(string VolumeId, string SnapshotId, string Status);

public sealed record FailoverView(
    Guid Id, Guid ReplicationId, string SourceVmId, string JobType, string Status, string? CurrentStep, string? DestinationVmId,
    IReadOnlyList<NetworkMapping> NetworkMappings, string? ErrorMessage, DateTime CreatedAt, DateTime? StartedAt, DateTime? CompletedAt,
    IReadOnlyList<FailoverSnapshotView> Snapshots, string? VmName, bool ShutdownSource);

/// <summary>Failovers, newest first; optionally only those in one status.</summary>
public sealed record ListFailoversQuery(string? Status = null) : IRequest<IReadOnlyList<FailoverView>>;

public sealed record GetFailoverQuery(Guid Id) : IRequest<FailoverView?>;

// ---- What the Cleanup module needs: it claims a failover, has the Failover module undo it, and ends the cleanup. ----

/// <summary>
/// Claims a failover for cleanup: a completed test failover, a failed cleanup (retry), or a
/// failover whose rollback failed (test or live) → cleaning_up. 404 unknown, 409 any other state.
/// A failover already cleaning up is returned as it is (a repeated request is harmless).
/// </summary>
public sealed record BeginFailoverCleanupCommand(Guid Id) : IRequest<FailoverView>;

/// <summary>
/// Undoes a failover claimed for cleanup, from its end: stop VM → detach volumes → destroy VM →
/// revert volumes to their snapshots → volumes back on the OMA with exports → delete snapshots →
/// release the replication. Send it from inside the cleanup's job: each step is a step of that job,
/// and <see cref="FailoverView.CurrentStep"/> names the one in progress. The first step that fails
/// throws; every step is safe to repeat, so a failed or cut-off undo is simply sent again.
/// </summary>
public sealed record UndoFailoverCommand(Guid Id) : IRequest<Unit>;

/// <summary>Ends a cleanup: cleaned_up when <paramref name="Error"/> is null, else cleanup_failed with it.</summary>
public sealed record EndFailoverCleanupCommand(Guid Id, string? Error) : IRequest<FailoverView>;
