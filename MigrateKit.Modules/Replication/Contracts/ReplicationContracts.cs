using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Replication.Contracts;

public static class ReplicationStatuses
{
    /// <summary>Stored, not yet picked up by the replication worker.</summary>
    public const string Pending = "pending";
    public const string Replicating = "replicating";
    /// <summary>The last sync completed; the job waits for its schedule or a sync request.</summary>
    public const string Idle = "idle";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    public const string FailedOver = "failed_over";

    /// <summary>Every status; V0025's CHECK on replication_jobs.status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Pending, Replicating, Idle, Failed, Cancelled, FailedOver];
}

/// <summary>What the next sync of a job copies (replication_jobs.replication_type, an ENUM).</summary>
public static class ReplicationTypes
{
    /// <summary>The first sync: a full copy of every disk.</summary>
    public const string Initial = "initial";
    public const string Incremental = "incremental";
}

/// <summary>The state of one disk in the sync in progress (vm_disks.sync_status).</summary>
public static class DiskSyncStatuses
{
    /// <summary>Not copied yet in this snapshot's sync (also: started over after a CBT reset).</summary>
    public const string Pending = "pending";
    public const string Syncing = "syncing";
    /// <summary>Copied, and its new change id recorded: the only state a failover accepts.</summary>
    public const string Completed = "completed";
    /// <summary>The agent's sync was cancelled; the next run resumes the disk from its checkpoint.</summary>
    public const string Interrupted = "interrupted";
    public const string Failed = "failed";
    /// <summary>vCenter rejected the disk's change id; it is copied in full next.</summary>
    public const string CbtReset = "cbt-reset";

    /// <summary>Every status; V0025's CHECK on vm_disks.sync_status lists exactly these (a schema test keeps them equal).</summary>
    public static readonly IReadOnlyList<string> All = [Pending, Syncing, Completed, Interrupted, Failed, CbtReset];
}

/// <summary>
/// Starts replicating a VM: give its managed object id, inventory path or name, the enrolled
/// agent that reaches its vCenter, and the OSSEA config to replicate into.
/// </summary>
public sealed record StartReplicationCommand : IRequest<ReplicationJobView>, IJobRequest
{
    public string? VmMoref { get; init; }
    public string? VmPath { get; init; }
    public string? VmName { get; init; }
    public string Agent { get; init; } = "";
    public int OsseaConfigId { get; init; }
    /// <summary>Run an incremental sync every this many seconds; null = only on request.</summary>
    public int? ScheduleIntervalSeconds { get; init; }
    /// <summary>Per-job bandwidth limit in bytes per second; null = unlimited.</summary>
    public long? BandwidthLimitBps { get; init; }
    /// <summary>Hash the changed ranges on both sides after each sync and compare.</summary>
    public bool VerifyAfterSync { get; init; }

    public string SourceVmKey => VmMoref ?? VmPath ?? VmName ?? "";

    public JobStart DescribeJob() => new("replication.create", $"replicate VM '{SourceVmKey}'", "replication")
    {
        EntityType = "vm",
        EntityId = SourceVmKey,
    };
}

public sealed record VmDiskView(
    long Id, string DiskId, string VmdkPath, long CapacityBytes, string? Label, int? UnitNumber, long? OsseaVolumeId,
    string? DiskChangeId, string SyncStatus, decimal SyncProgressPercent, long BytesSynced);

public sealed record ReplicationJobView(
    Guid Id, string SourceVmId, string SourceVmName, string? SourceVmPath, string? Agent, int OsseaConfigId,
    string ReplicationType, string Status, decimal ProgressPercent, string? CurrentOperation, long BytesTransferred,
    long TotalBytes, long TransferSpeedBps, string? ErrorMessage, string? ChangeId, long? BandwidthLimitBps,
    int? ScheduleIntervalSeconds, bool VerifyAfterSync, DateTime CreatedAt, DateTime? StartedAt, DateTime? CompletedAt,
    DateTime? LastSyncCompletedAt, DateTime? NextSyncAt, IReadOnlyList<VmDiskView> Disks, string? HoldReason);

public sealed record ListReplicationsQuery : IRequest<IReadOnlyList<ReplicationJobView>>;

public sealed record GetReplicationQuery(Guid Id) : IRequest<ReplicationJobView?>;

/// <summary>Asks for an incremental sync now.</summary>
public sealed record RequestSyncCommand(Guid Id) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.sync-request", "request a sync", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}

/// <summary>Stops a job for good: a running sync is cancelled; its volumes stay until the job is deleted.</summary>
public sealed record CancelReplicationCommand(Guid Id) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.cancel", "cancel a replication", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}

/// <summary>
/// Deletes a job and every volume it owns (through the Volume module). Refused while a sync runs
/// or while any of its volumes is attached to a VM other than the OMA appliance (a test VM).
/// </summary>
public sealed record DeleteReplicationCommand(Guid Id) : IRequest<Unit>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.delete", "delete a replication and its volumes", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}
