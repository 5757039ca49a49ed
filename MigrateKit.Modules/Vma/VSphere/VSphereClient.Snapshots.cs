namespace MigrateKit.Modules.Vma.VSphere;

internal sealed partial class VSphereClient
{
    /// <summary>
    /// CreateSnapshot_Task without memory; quiesced only on request (it needs VMware Tools and can
    /// fail on busy guests). Returns the new snapshot's moref.
    /// </summary>
    public async Task<MoRef> CreateSnapshotAsync(MoRef vm, string name, string description, bool quiesce, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var result = await RunTaskAsync("CreateSnapshot_Task", vm, w => w
            .Value("name", name)
            .Value("description", description)
            .Value("memory", false)
            .Value("quiesce", quiesce), null, ct).ConfigureAwait(false);
        return result.AsRef() is { Type: "VirtualMachineSnapshot" } snapshot
            ? snapshot
            : throw new VSphereException($"CreateSnapshot_Task on {vm} finished without a snapshot reference");
    }

    /// <summary>RemoveSnapshot_Task of this snapshot only (children kept), consolidating the disks.</summary>
    public async Task RemoveSnapshotAsync(MoRef snapshot, CancellationToken ct)
    {
        await RunTaskAsync("RemoveSnapshot_Task", snapshot, w => w
            .Value("removeChildren", false)
            .Value("consolidate", true), null, ct).ConfigureAwait(false);
    }

    /// <summary>The VM's snapshot tree, flattened.</summary>
    public async Task<IReadOnlyList<VmSnapshot>> ListSnapshotsAsync(MoRef vm, CancellationToken ct)
    {
        var props = await RetrieveOneAsync(vm, ["snapshot"], ct).ConfigureAwait(false);
        return FlattenSnapshots(props["snapshot"]);
    }

    /// <summary>The disks frozen in a snapshot, each with the CBT change id it had then.</summary>
    public async Task<IReadOnlyList<SnapshotDisk>> GetSnapshotDisksAsync(MoRef snapshot, CancellationToken ct)
    {
        var props = await RetrieveOneAsync(snapshot, ["config.hardware.device"], ct).ConfigureAwait(false);
        var devices = props["config.hardware.device"]?.Elements() ?? [];
        return devices.Where(IsDisk).Select(d =>
        {
            var backing = d.Child("backing");
            var capacity = d.Long("capacityInBytes") ?? 0;
            if (capacity <= 0)
            {
                capacity = (d.Long("capacityInKB") ?? 0) * 1024;
            }
            return new SnapshotDisk(
                d.Int("key") ?? 0,
                backing.Text("fileName") ?? "",
                capacity,
                backing.Text("changeId") is { Length: > 0 } id ? id : null);
        }).ToList();
    }
}
