using MediatR;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Replication.Contracts;

// TEMPORARY copy of the lead's spec (contracts.md) so the failover branch compiles; replaced by repl's file at merge.

public sealed record SourceNicView(int DeviceKey, string? Label, string? MacAddress, string NetworkName, string? NetworkKind);
public sealed record SourceVmSpecView(string? GuestId, string? GuestFullName, string? Firmware, int? NumCpu, int? MemoryMb,
    IReadOnlyList<SourceNicView> Nics, DateTime CapturedAt);
public sealed record GetSourceVmSpecQuery(Guid ReplicationId) : IRequest<SourceVmSpecView?>;

public sealed record HoldReplicationCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.hold", "hold a replication", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}
public sealed record ReleaseReplicationCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.release", "release a replication", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}
public sealed record RunFinalSyncCommand(Guid Id, string Reason, bool ShutdownSource) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.final-sync", "final sync", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}
public sealed record RestoreReplicationTargetsCommand(Guid Id) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.restore-targets", "restore targets", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}
public sealed record MarkFailedOverCommand(Guid Id, string Reason) : IRequest<ReplicationJobView>, IJobRequest
{
    public JobStart DescribeJob() => new("replication.failed-over", "mark failed over", "replication") { EntityType = "replication", EntityId = Id.ToString() };
}
public sealed record ReplicationDeletingNotification(Guid Id) : INotification;
