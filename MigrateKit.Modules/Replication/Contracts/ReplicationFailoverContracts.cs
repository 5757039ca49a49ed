using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Replication.Contracts;

/// <summary>One NIC of the source VM; <paramref name="NetworkName"/> is the portgroup/network name vCenter resolves.</summary>
public sealed record SourceNicView(int DeviceKey, string? Label, string? MacAddress, string NetworkName, string? NetworkKind);

/// <summary>The source VM as the VMA described it at a sync.</summary>
public sealed record SourceVmSpecView(string? GuestId, string? GuestFullName, string? Firmware, int? NumCpu, int? MemoryMb,
    IReadOnlyList<SourceNicView> Nics, DateTime CapturedAt);

/// <summary>The source VM as the VMA described it at the last sync (persisted at every sync); null before the first.</summary>
public sealed record GetSourceVmSpecQuery(Guid ReplicationId) : IRequest<SourceVmSpecView?>;

/// <summary>
/// Pauses the job: no sync starts (schedule or request) while held. 409 while a sync runs, or when
/// held by someone else. Holding again with the same reason is success (retry-safe).
/// </summary>
public sealed record HoldReplicationCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.hold", $"hold replication ({Reason})", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}

/// <summary>Lifts the hold if it has this reason (else no-op); the schedule continues.</summary>
public sealed record ReleaseReplicationCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.release", $"release replication ({Reason})", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}

/// <summary>
/// Live failover: with the job held by <paramref name="Reason"/>, optionally shuts the source VM down
/// through the VMA, then runs one incremental sync despite the hold and waits for it to end.
/// Throws (job-log failure with the reason) if the sync fails.
/// </summary>
public sealed record RunFinalSyncCommand(Guid Id, string Reason, bool ShutdownSource) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.final-sync",
        ShutdownSource ? "shut the source VM down and run a final sync" : "run a final sync", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}

/// <summary>
/// Every disk's volume attached to the OMA again and exported under its export name (idempotent);
/// used by cleanup and by failover rollback. Volumes attached to another VM → 409 (detach them first).
/// </summary>
public sealed record RestoreReplicationTargetsCommand(Guid Id) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.restore-targets", "attach and export the replication's volumes on the OMA again", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}

/// <summary>Live failover done: status failed_over, no more syncs; the volumes now belong to the OSSEA VM.</summary>
public sealed record MarkFailedOverCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.failed-over", $"mark replication failed over ({Reason})", "replication")
    {
        EntityType = "replication",
        EntityId = Id.ToString(),
    };
}

/// <summary>Published (awaited) by DeleteReplication before it deletes anything; a handler throwing ConflictException refuses the delete.</summary>
public sealed record ReplicationDeletingNotification(Guid Id) : INotification;
