namespace MigrateKit.Modules.Failover.Run;

/// <summary>Step names of the job log (and failover_jobs.current_step), as operators read them.</summary>
internal static class FailoverSteps
{
    public const string Preflight = "preflight";
    public const string Hold = "hold replication";
    public const string Snapshot = "snapshot volumes";
    public const string Virtio = "inject VirtIO drivers";
    public const string FinalSync = "final sync";
    public const string DetachFromOma = "detach volumes from the OMA";
    public const string CreateVm = "create VM";
    public const string AttachRoot = "attach root volume";
    public const string AttachData = "attach data volumes";
    public const string StartVm = "start VM";
    public const string MarkFailedOver = "mark replication failed over";

    /// <summary>The forward steps in the order they run (VirtIO injection of a live failover comes after its final sync; both precede the detach).</summary>
    private static readonly string[] Order = [Preflight, Hold, Snapshot, Virtio, FinalSync, DetachFromOma, CreateVm, AttachRoot, AttachData, StartVm, MarkFailedOver];

    /// <summary>Whether a failover that stopped at <paramref name="current"/> had begun <paramref name="step"/>.</summary>
    public static bool Reached(string? current, string step) =>
        current is not null && Array.IndexOf(Order, current) is var at and >= 0 && at >= Array.IndexOf(Order, step);

    public const string RollbackStopVm = "rollback: stop VM";
    public const string RollbackDetach = "rollback: detach volumes from the VM";
    public const string RollbackDestroy = "rollback: destroy VM";
    public const string RollbackRevert = "rollback: revert volumes to their snapshots";
    public const string RollbackRestore = "rollback: volumes back on the OMA with their exports";
    public const string RollbackDeleteSnapshots = "rollback: delete snapshots";
    public const string RollbackRelease = "rollback: release replication";
}
