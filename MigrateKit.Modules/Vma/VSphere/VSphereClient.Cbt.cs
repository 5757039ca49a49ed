namespace MigrateKit.Modules.Vma.VSphere;

internal sealed partial class VSphereClient
{
    /// <summary>CBT needs virtual hardware version 7 or later (VDDK guide).</summary>
    internal const int MinCbtHardwareVersion = 7;

    private const string CbtStunSnapshotName = "migratekit-cbt-activate";

    /// <summary>
    /// Why CBT cannot be (or cannot become) active on this VM, or null when it can. Checked:
    /// templates (cannot be snapshotted); hardware version below 7; independent disks and
    /// physical-mode RDMs (snapshots, and so CBT, skip them); when enabling, existing snapshots
    /// (changeId "*" needs zero snapshots when CBT is switched on, KB 320557).
    /// </summary>
    internal static string? CbtBlocker(VmInfo vm, bool enabling)
    {
        if (vm.IsTemplate)
        {
            return "it is a template";
        }
        if (vm.HardwareVersion < MinCbtHardwareVersion)
        {
            return vm.HardwareVersion == 0
                ? "its virtual hardware version is unknown (CBT needs vmx-07 or later)"
                : $"its virtual hardware version vmx-{vm.HardwareVersion:00} is below vmx-07";
        }
        foreach (var d in vm.Disks)
        {
            if (d.DiskMode is { } mode && mode.StartsWith("independent", StringComparison.Ordinal))
            {
                return $"disk '{d.Label}' is {mode}, which snapshots and CBT do not cover";
            }
            if (d.BackingType == "VirtualDiskRawDiskVer2BackingInfo" || d.BackingType == "VirtualDiskPartitionedRawDiskVer2BackingInfo")
            {
                return $"disk '{d.Label}' is a physical raw disk, which CBT does not track";
            }
        }
        if (enabling && !vm.ChangeTrackingEnabled && vm.Snapshots.Count > 0)
        {
            return $"it has {vm.Snapshots.Count} snapshot(s); remove them before enabling CBT";
        }
        return null;
    }

    public async Task<CbtStatus> GetCbtStatusAsync(MoRef vm, CancellationToken ct)
    {
        var info = await GetVmAsync(vm, ct).ConfigureAwait(false);
        var blocker = CbtBlocker(info, enabling: false);
        return new CbtStatus(info.ChangeTrackingEnabled, blocker is null, blocker, info.HardwareVersion);
    }

    /// <summary>
    /// Enables CBT: ReconfigVM_Task changeTrackingEnabled=true, then a snapshot create + remove
    /// (a stun/unstun cycle) so it takes effect on a running VM. Throws
    /// <see cref="CbtUnsupportedException"/> with the reason when the VM cannot have CBT.
    /// </summary>
    public async Task<CbtStatus> EnableCbtAsync(MoRef vm, CancellationToken ct)
    {
        var info = await GetVmAsync(vm, ct).ConfigureAwait(false);
        if (CbtBlocker(info, enabling: true) is { } reason)
        {
            throw new CbtUnsupportedException(vm, reason);
        }
        if (!info.ChangeTrackingEnabled)
        {
            await RunTaskAsync("ReconfigVM_Task", vm, w => w
                .Start("spec").Value("changeTrackingEnabled", true).End(), null, ct).ConfigureAwait(false);
            var snapshot = await CreateSnapshotAsync(vm, CbtStunSnapshotName,
                "Activates changed block tracking; removed at once by MigrateKit", quiesce: false, ct).ConfigureAwait(false);
            await RemoveSnapshotAsync(snapshot, ct).ConfigureAwait(false);
        }
        var after = await GetVmAsync(vm, ct).ConfigureAwait(false);
        if (!after.ChangeTrackingEnabled)
        {
            throw new VSphereException($"vCenter accepted the reconfiguration of {vm} but CBT is still off");
        }
        return new CbtStatus(true, true, null, after.HardwareVersion);
    }

    /// <summary>Reconfigures a VM with a caller-written VirtualMachineConfigSpec body.</summary>
    internal Task ReconfigureAsync(MoRef vm, Action<VimWriter> spec, CancellationToken ct)
        => RunTaskAsync("ReconfigVM_Task", vm, w =>
        {
            w.Start("spec");
            spec(w);
            w.End();
        }, null, ct);

    /// <summary>One QueryChangedDiskAreas call. Change id <c>*</c> asks for all allocated areas.</summary>
    public async Task<DiskChangeInfo> QueryChangedDiskAreasAsync(
        MoRef vm, MoRef? snapshot, int deviceKey, long startOffset, string changeId, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(startOffset);
        ArgumentException.ThrowIfNullOrWhiteSpace(changeId);
        System.Xml.Linq.XElement response;
        try
        {
            response = await InvokeAsync("QueryChangedDiskAreas", vm, w =>
            {
                if (snapshot is { } s)
                {
                    w.Ref("snapshot", s);
                }
                w.Value("deviceKey", deviceKey).Value("startOffset", startOffset).Value("changeId", changeId);
            }, ct).ConfigureAwait(false);
        }
        catch (VSphereFaultException e) when (IsChangeIdRejection(e))
        {
            throw new ChangeIdRejectedException(changeId, deviceKey, e);
        }
        var rv = response.Child("returnval") ?? throw new VSphereException("QueryChangedDiskAreas returned no DiskChangeInfo");
        var areas = new List<DiskExtent>();
        foreach (var a in rv.ChildrenNamed("changedArea"))
        {
            var start = a.Long("start");
            var length = a.Long("length");
            if (start is null || length is null || start < 0 || length < 0)
            {
                throw new VSphereException($"QueryChangedDiskAreas returned a malformed changed area (start {start}, length {length})");
            }
            areas.Add(new DiskExtent(start.Value, length.Value));
        }
        return new DiskChangeInfo(
            rv.Long("startOffset") ?? throw new VSphereException("DiskChangeInfo lacks startOffset"),
            rv.Long("length") ?? throw new VSphereException("DiskChangeInfo lacks length"),
            areas);
    }

    /// <summary>
    /// FileFault family (asking for changes from before CBT was on, or after a reset), or
    /// InvalidArgument about the change id. InvalidArgument naming another parameter (startOffset,
    /// deviceKey) is a caller bug, not a CBT reset, and stays a plain fault.
    /// </summary>
    private static bool IsChangeIdRejection(VSphereFaultException e) => e.FaultType switch
    {
        "FileFault" or "FileNotFound" or "CannotAccessFile" => true,
        "InvalidArgument" => e.InvalidProperty is null or "" or "changeId",
        _ => false,
    };

    /// <summary>
    /// Every changed area of a disk: QueryChangedDiskAreas from offset 0, each time from
    /// startOffset+length, until the capacity is covered; merged into sorted, non-overlapping extents.
    /// Throws <see cref="ChangeIdRejectedException"/> when the change id is no longer valid.
    /// </summary>
    public async Task<ChangedAreas> QueryAllChangedAreasAsync(
        MoRef vm, MoRef snapshot, int deviceKey, long capacityBytes, string changeId, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(capacityBytes);
        var pager = new ChangedAreaPager(capacityBytes);
        while (pager.NextOffset is long offset)
        {
            var page = await QueryChangedDiskAreasAsync(vm, snapshot, deviceKey, offset, changeId, ct).ConfigureAwait(false);
            pager.Add(page);
        }
        return pager.Result();
    }
}
