using System.Text.Json.Nodes;

namespace MigrateKit.Tests.Support.Ossea;

internal sealed partial class OsseaEmulatorCloud
{
    // ---------------------------------------------------------------- lists

    private JsonObject ListZones(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_zones.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            var name = p.Optional("name");
            return Page(p, "zone", _zones.Values.Where(z => (id is null || z.Id == id) && (name is null || z.Name == name)).Select(z => z.ToJson()));
        }
    }

    private JsonObject ListVolumes(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_volumes.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            var vmId = p.Optional("virtualmachineid");
            if (vmId is not null && !_vms.ContainsKey(vmId))
            {
                throw p.InvalidValue("virtualmachineid", vmId);
            }

            var name = p.Optional("name");
            var zoneId = p.Optional("zoneid");
            var type = p.Optional("type");
            var items = _volumes.Values.Where(v => !v.Removed
                && (id is null || v.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
                && (vmId is null || (v.Vm is not null && !v.Attaching && v.Vm.Id.Equals(vmId, StringComparison.OrdinalIgnoreCase)))
                && (name is null || v.Name == name)
                && (zoneId is null || v.Zone.Id.Equals(zoneId, StringComparison.OrdinalIgnoreCase))
                && (type is null || v.Type.Equals(type, StringComparison.OrdinalIgnoreCase)));
            return Page(p, "volume", items.Select(v => v.ToJson()));
        }
    }

    private JsonObject ListSnapshots(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_snapshots.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            var volumeId = p.Optional("volumeid");
            if (volumeId is not null && !_volumes.ContainsKey(volumeId))
            {
                throw p.InvalidValue("volumeid", volumeId);
            }

            var name = p.Optional("name");
            var items = _snapshots.Values.Where(s => !s.Removed
                && (id is null || s.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
                && (volumeId is null || s.Volume.Id.Equals(volumeId, StringComparison.OrdinalIgnoreCase))
                && (name is null || s.Name == name));
            return Page(p, "snapshot", items.Select(s => s.ToJson()));
        }
    }

    private JsonObject ListVirtualMachines(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_vms.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            var name = p.Optional("name");
            var state = p.Optional("state");
            var items = _vms.Values.Where(vm => !vm.Expunged
                && (id is null || vm.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
                && (name is null || vm.Name == name)
                && (state is null || vm.State.Equals(state, StringComparison.OrdinalIgnoreCase)));
            return Page(p, "virtualmachine", items.Select(vm => vm.ToJson()));
        }
    }

    private JsonObject ListNetworks(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_networks.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            var zoneId = p.Optional("zoneid");
            return Page(p, "network", _networks.Values
                .Where(n => (id is null || n.Id.Equals(id, StringComparison.OrdinalIgnoreCase))
                    && (zoneId is null || n.Zone.Id.Equals(zoneId, StringComparison.OrdinalIgnoreCase)))
                .Select(n => n.ToJson()));
        }
    }

    private JsonObject ListServiceOfferings(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_serviceOfferings.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            return Page(p, "serviceoffering", _serviceOfferings.Values
                .Where(o => id is null || o.Id.Equals(id, StringComparison.OrdinalIgnoreCase)).Select(o => o.ToJson(_created)));
        }
    }

    private JsonObject ListDiskOfferings(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var id = p.Optional("id");
            if (id is not null && !_diskOfferings.ContainsKey(id))
            {
                throw p.InvalidValue("id", id);
            }

            return Page(p, "diskoffering", _diskOfferings.Values
                .Where(o => id is null || o.Id.Equals(id, StringComparison.OrdinalIgnoreCase)).Select(o => o.ToJson(_created)));
        }
    }

    /// <summary>CloudStack list body: <c>{"count":N,"item":[…]}</c>, or <c>{}</c> when nothing matches.</summary>
    private static JsonObject Page(OsseaEmulatorParams p, string itemKey, IEnumerable<JsonObject> items)
    {
        var all = items.ToList();
        var page = p.Long("page") ?? 1;
        var pageSize = p.Long("pagesize") ?? 500;
        if (page < 1 || pageSize < 1)
        {
            throw EmulatorApiError.Param("Page and pagesize must be positive.");
        }

        var slice = all.Skip((int)Math.Min(int.MaxValue, (page - 1) * pageSize)).Take((int)Math.Min(int.MaxValue, pageSize)).ToList();
        if (all.Count == 0)
        {
            return [];
        }

        return new JsonObject { ["count"] = all.Count, [itemKey] = new JsonArray(slice.Select(i => (JsonNode)i).ToArray()) };
    }
}
