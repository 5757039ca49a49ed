using System.Globalization;
using System.Xml.Linq;

namespace MigrateKit.Modules.Vma.VSphere;

internal sealed partial class VSphereClient
{
    private static readonly string[] VmPaths =
    [
        "name", "parent", "parentVApp", "runtime.powerState",
        "config.instanceUuid", "config.guestId", "config.guestFullName", "config.firmware",
        "config.hardware.numCPU", "config.hardware.memoryMB", "config.version",
        "config.changeTrackingEnabled", "config.template", "config.hardware.device", "snapshot",
    ];

    private static readonly string[] InventoryViewTypes =
        ["Folder", "Datacenter", "VirtualApp", "ResourcePool", "Network", "DistributedVirtualPortgroup", "OpaqueNetwork", "Datastore"];

    private static readonly (string, string[])[] InventoryPropertySets =
    [
        ("ManagedEntity", ["name", "parent"]),
        ("DistributedVirtualPortgroup", ["key"]),
        ("OpaqueNetwork", ["summary"]),
    ];

    /// <summary>Every VM (and template) in vCenter, with disks, NICs and resolved network names.</summary>
    public async Task<IReadOnlyList<VmInfo>> DiscoverVmsAsync(CancellationToken ct)
    {
        var index = await LoadInventoryAsync(ct).ConfigureAwait(false);
        var vms = await RetrieveFromViewAsync(["VirtualMachine"], [("VirtualMachine", VmPaths)], ct).ConfigureAwait(false);
        return vms.Select(v => ToVmInfo(v, index)).OrderBy(v => v.InventoryPath, StringComparer.Ordinal).ToList();
    }

    /// <summary>One VM by moref.</summary>
    public async Task<VmInfo> GetVmAsync(MoRef vm, CancellationToken ct)
    {
        var index = await LoadInventoryAsync(ct).ConfigureAwait(false);
        var props = await RetrieveOneAsync(vm, VmPaths, ct).ConfigureAwait(false);
        return ToVmInfo(props, index);
    }

    /// <summary>SearchIndex.FindByInventoryPath (e.g. <c>/DC0/vm/web01</c>); null when nothing is there.</summary>
    public async Task<MoRef?> FindVmByInventoryPathAsync(string inventoryPath, CancellationToken ct)
    {
        var content = await EnsureContentAsync(ct).ConfigureAwait(false);
        var searchIndex = content.SearchIndex ?? throw new VSphereException("vCenter has no SearchIndex");
        var response = await InvokeAsync("FindByInventoryPath", searchIndex,
            w => w.Value("inventoryPath", inventoryPath.TrimStart('/')), ct).ConfigureAwait(false);
        var found = response.Child("returnval").AsRef();
        return found is { Type: "VirtualMachine" } ? found : null;
    }

    private sealed record InventoryIndex(
        IReadOnlyDictionary<MoRef, (string Name, MoRef? Parent)> Entities,
        IReadOnlyDictionary<string, MoRef> PortgroupsByKey,
        IReadOnlyDictionary<(string Type, string Id), MoRef> OpaqueById);

    private async Task<InventoryIndex> LoadInventoryAsync(CancellationToken ct)
    {
        var objects = await RetrieveFromViewAsync(InventoryViewTypes, InventoryPropertySets, ct).ConfigureAwait(false);
        var entities = new Dictionary<MoRef, (string, MoRef?)>();
        var portgroups = new Dictionary<string, MoRef>(StringComparer.Ordinal);
        var opaque = new Dictionary<(string, string), MoRef>();
        foreach (var o in objects)
        {
            entities[o.Ref] = (o["name"]?.Value ?? o.Ref.Value, o["parent"].AsRef());
            if (o["key"]?.Value is { Length: > 0 } key)
            {
                portgroups[key] = o.Ref;
            }
            if (o["summary"] is { } summary && summary.Text("opaqueNetworkId") is { Length: > 0 } id)
            {
                opaque[(summary.Text("opaqueNetworkType") ?? "", id)] = o.Ref;
            }
        }
        // The root folder is the top: it is not inside any view, so add it from ServiceContent.
        entities.TryAdd(Content.RootFolder, ("", null));
        return new InventoryIndex(entities, portgroups, opaque);
    }

    private static VmInfo ToVmInfo(ObjectProperties p, InventoryIndex index)
    {
        var name = p["name"]?.Value ?? p.Ref.Value;
        var version = p["config.version"]?.Value;
        var devices = p["config.hardware.device"]?.Elements().ToList() ?? [];
        return new VmInfo(
            p.Ref,
            name,
            p["config.instanceUuid"]?.Value,
            InventoryPath(name, p["parent"].AsRef() ?? p["parentVApp"].AsRef(), index),
            p["runtime.powerState"]?.Value ?? "unknown",
            p["config.guestId"]?.Value,
            p["config.guestFullName"]?.Value,
            p["config.firmware"]?.Value ?? "bios",
            p["config.hardware.numCPU"].Int() ?? 0,
            p["config.hardware.memoryMB"].Int() ?? 0,
            ParseHardwareVersion(version),
            p["config.changeTrackingEnabled"].Bool() ?? false,
            p["config.template"].Bool() ?? false,
            FlattenSnapshots(p["snapshot"]),
            devices.Where(IsDisk).Select(d => ToDisk(d, index)).ToList(),
            devices.Where(IsNic).Select(d => ToNic(d, index)).ToList());
    }

    private static string InventoryPath(string name, MoRef? parent, InventoryIndex index)
    {
        var parts = new List<string> { name };
        for (var depth = 0; parent is { } current && depth < 64; depth++)
        {
            if (!index.Entities.TryGetValue(current, out var e) || e.Parent is null)
            {
                break; // reached the root folder (it has no parent and no place in the path)
            }
            parts.Add(e.Name);
            parent = e.Parent;
        }
        parts.Reverse();
        return "/" + string.Join('/', parts);
    }

    /// <summary><c>vmx-13</c> → 13; 0 when absent or not in that form.</summary>
    internal static int ParseHardwareVersion(string? version)
        => version is not null && version.StartsWith("vmx-", StringComparison.Ordinal)
           && int.TryParse(version.AsSpan(4), NumberStyles.Integer, CultureInfo.InvariantCulture, out var v) ? v : 0;

    private static List<VmSnapshot> FlattenSnapshots(XElement? snapshotInfo)
    {
        var list = new List<VmSnapshot>();
        void Walk(IEnumerable<XElement> trees, MoRef? parent, int depth)
        {
            if (depth > 256)
            {
                return;
            }
            foreach (var t in trees)
            {
                var reference = t.Child("snapshot").AsRef();
                if (reference is null)
                {
                    continue;
                }
                list.Add(new VmSnapshot(reference.Value, t.Text("name") ?? "", t.Int("id") ?? 0, parent, t.Bool("quiesced") ?? false));
                Walk(t.ChildrenNamed("childSnapshotList"), reference, depth + 1);
            }
        }
        Walk(snapshotInfo.ChildrenNamed("rootSnapshotList"), null, 0);
        return list;
    }

    internal static bool IsDisk(XElement device) => device.XsiType() == "VirtualDisk";

    private static readonly HashSet<string> NicTypes = new(StringComparer.Ordinal)
    {
        "VirtualE1000", "VirtualE1000e", "VirtualPCNet32", "VirtualVmxnet", "VirtualVmxnet2", "VirtualVmxnet3",
        "VirtualVmxnet3Vrdma", "VirtualSriovEthernetCard", "VirtualEthernetCard",
    };

    internal static bool IsNic(XElement device)
        => NicTypes.Contains(device.XsiType() ?? "")
           || (device.Child("backing").XsiType()?.StartsWith("VirtualEthernetCard", StringComparison.Ordinal) ?? false);

    private static VmDisk ToDisk(XElement d, InventoryIndex index)
    {
        var backing = d.Child("backing");
        var backingType = backing.XsiType() ?? "";
        var fileName = backing.Text("fileName") ?? "";
        var datastore = backing.Child("datastore").AsRef() is { } ds && index.Entities.TryGetValue(ds, out var e)
            ? e.Name
            : DatastoreFromPath(fileName);
        var capacity = d.Long("capacityInBytes") ?? 0;
        if (capacity <= 0)
        {
            capacity = (d.Long("capacityInKB") ?? 0) * 1024;
        }
        var provisioning = backingType switch
        {
            "VirtualDiskRawDiskMappingVer1BackingInfo" or "VirtualDiskRawDiskVer2BackingInfo" or "VirtualDiskPartitionedRawDiskVer2BackingInfo" => "rdm",
            "VirtualDiskSparseVer1BackingInfo" or "VirtualDiskSparseVer2BackingInfo" or "VirtualDiskSeSparseBackingInfo" => "thin",
            _ when backing.Bool("thinProvisioned") == true => "thin",
            _ when backing.Bool("eagerlyScrub") == true => "eagerZeroedThick",
            _ => "thick",
        };
        return new VmDisk(
            d.Int("key") ?? 0,
            d.Text("deviceInfo", "label") ?? "",
            capacity,
            fileName,
            datastore,
            d.Int("unitNumber"),
            d.Int("controllerKey") ?? 0,
            provisioning,
            backing.Text("changeId") is { Length: > 0 } changeId ? changeId : null,
            backingType,
            backing.Text("diskMode"));
    }

    /// <summary><c>[LocalDS_0] vm/vm.vmdk</c> → <c>LocalDS_0</c>.</summary>
    internal static string DatastoreFromPath(string fileName)
    {
        if (fileName.StartsWith('['))
        {
            var end = fileName.IndexOf(']', StringComparison.Ordinal);
            if (end > 1)
            {
                return fileName[1..end];
            }
        }
        return "";
    }

    private static VmNic ToNic(XElement d, InventoryIndex index)
    {
        var backing = d.Child("backing");
        var kind = NetworkKind.Standard;
        MoRef? network = null;
        string? portgroupKey = null, switchUuid = null;
        string networkName;
        switch (backing.XsiType())
        {
            case "VirtualEthernetCardDistributedVirtualPortBackingInfo":
                kind = NetworkKind.DistributedPortgroup;
                portgroupKey = backing.Text("port", "portgroupKey");
                switchUuid = backing.Text("port", "switchUuid");
                if (portgroupKey is not null && (index.PortgroupsByKey.TryGetValue(portgroupKey, out var pg)
                        || index.Entities.ContainsKey(pg = new MoRef("DistributedVirtualPortgroup", portgroupKey))))
                {
                    network = pg;
                }
                networkName = network is { } n1 && index.Entities.TryGetValue(n1, out var pge)
                    ? pge.Name
                    : $"dvportgroup:{portgroupKey}"; // vCenter did not list the group; keep its key, never "unknown"
                break;
            case "VirtualEthernetCardOpaqueNetworkBackingInfo":
                kind = NetworkKind.Opaque;
                var id = backing.Text("opaqueNetworkId") ?? "";
                var type = backing.Text("opaqueNetworkType") ?? "";
                if (index.OpaqueById.TryGetValue((type, id), out var on))
                {
                    network = on;
                }
                networkName = network is { } n2 && index.Entities.TryGetValue(n2, out var one) ? one.Name : $"{type}:{id}";
                break;
            default:
                network = backing.Child("network").AsRef();
                networkName = network is { } n3 && index.Entities.TryGetValue(n3, out var ne)
                    ? ne.Name
                    : backing.Text("deviceName") ?? "";
                break;
        }
        return new VmNic(
            d.Int("key") ?? 0,
            d.Text("deviceInfo", "label") ?? "",
            d.XsiType() ?? "VirtualEthernetCard",
            d.Text("macAddress"),
            kind,
            networkName,
            network,
            portgroupKey,
            switchUuid,
            d.Int("controllerKey") ?? 0,
            d.Int("unitNumber"));
    }
}
