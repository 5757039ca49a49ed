using MediatR;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Failover.Contracts;

namespace MigrateKit.Modules.Cleanup.Contracts;

/// <summary>
/// Undoes a test failover (or finishes a rollback that failed): stop and destroy the VM, detach
/// its volumes, revert them to the pre-failover snapshots, attach them to the OMA with their NBD
/// exports, delete the snapshots, release the replication. Runs in the background (202); a
/// cleanup that failed is retried by asking again, and every step is safe to repeat.
/// </summary>
public sealed record CleanupFailoverCommand(Guid FailoverId) : IRequest<FailoverView>, IJobRequest
{
    public JobStart DescribeJob() => new("failover.cleanup.request", $"request the cleanup of failover {FailoverId}", "cleanup")
    {
        EntityType = "failover",
        EntityId = FailoverId.ToString(),
    };
}
