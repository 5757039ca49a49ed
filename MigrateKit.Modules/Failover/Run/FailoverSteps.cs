namespace MigrateKit.Modules.Failover.Run;

/// <summary>
/// A step of a failover or of its undo: <see cref="Key"/> is what failover_jobs.current_step
/// stores (stable: V0026 constrains the column to these keys, and a resume after an upgrade finds
/// its place by it); <see cref="Label"/> is what operators read in the job log and the API.
/// </summary>
internal sealed record FailoverStep(string Key, string Label);

internal static class FailoverSteps
{
    public static readonly FailoverStep Preflight = new("preflight", "preflight");
    public static readonly FailoverStep Hold = new("hold", "hold replication");
    public static readonly FailoverStep Snapshot = new("snapshot", "snapshot volumes");
    public static readonly FailoverStep Virtio = new("virtio", "inject VirtIO drivers");
    public static readonly FailoverStep FinalSync = new("final_sync", "final sync");
    public static readonly FailoverStep DetachFromOma = new("detach", "detach volumes from the OMA");
    public static readonly FailoverStep CreateVm = new("create_vm", "create VM");
    public static readonly FailoverStep AttachRoot = new("attach_root", "attach root volume");
    public static readonly FailoverStep AttachData = new("attach_data", "attach data volumes");
    public static readonly FailoverStep StartVm = new("start_vm", "start VM");
    public static readonly FailoverStep MarkFailedOver = new("mark_failed_over", "mark replication failed over");

    // The undo (FailoverUndo): a cleanup's job steps carry these labels, a rollback's are prefixed "rollback: ".
    public static readonly FailoverStep UndoStopVm = new("undo_stop_vm", "stop VM");
    public static readonly FailoverStep UndoDetach = new("undo_detach", "detach volumes from the VM");
    public static readonly FailoverStep UndoDestroyVm = new("undo_destroy_vm", "destroy VM");
    public static readonly FailoverStep UndoRevert = new("undo_revert", "revert volumes to their snapshots");
    public static readonly FailoverStep UndoRestore = new("undo_restore", "volumes back on the OMA with their exports");
    public static readonly FailoverStep UndoDeleteSnapshots = new("undo_delete_snapshots", "delete snapshots");
    public static readonly FailoverStep UndoRelease = new("undo_release", "release replication");

    public const string RollbackPrefix = "rollback: ";

    /// <summary>The forward steps in the order they run (VirtIO injection of a live failover comes after its final sync; both precede the detach).</summary>
    private static readonly FailoverStep[] Order = [Preflight, Hold, Snapshot, Virtio, FinalSync, DetachFromOma, CreateVm, AttachRoot, AttachData, StartVm, MarkFailedOver];

    private static readonly FailoverStep[] Undo = [UndoStopVm, UndoDetach, UndoDestroyVm, UndoRevert, UndoRestore, UndoDeleteSnapshots, UndoRelease];

    /// <summary>Every step whose key current_step may hold (V0026's CHECK lists the same keys).</summary>
    public static IReadOnlyList<FailoverStep> All { get; } = [.. Order, .. Undo];

    private static readonly Dictionary<string, FailoverStep> ByKey = All.ToDictionary(s => s.Key, StringComparer.Ordinal);

    /// <summary>Whether a failover that stopped at step <paramref name="currentKey"/> had begun <paramref name="step"/>.</summary>
    public static bool Reached(string? currentKey, FailoverStep step) =>
        currentKey is not null && Array.FindIndex(Order, s => s.Key == currentKey) is var at and >= 0 && at >= Array.IndexOf(Order, step);

    /// <summary>The label of a stored key, for operators (an unknown key is shown as it is).</summary>
    public static string? Label(string? key) => key is null ? null : ByKey.TryGetValue(key, out var step) ? step.Label : key;
}
