using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>
/// The emulated cloud: entities, the command handlers with ACS's rules, and the async job engine.
/// One lock guards all state; jobs run on the thread pool, attach/detach/start/stop/destroy of one
/// VM one at a time (ACS's per-VM work queue, <c>VmWorkJobQueue</c>).
/// </summary>
internal sealed partial class OsseaEmulatorCloud : IDisposable
{
    public const string AccountId = "bc1b465f-1d18-11ec-9173-50eb7122da94";
    public const string UserId = "bc1b60db-1d18-11ec-9173-50eb7122da94";
    public const string DomainId = "e4874e10-5fdf-11ea-9a56-1e006800018c";
    public const string HostId = "8e8e68e7-19ea-4a78-bbdb-6e79d27729c9";
    public const string StorageId = "7d6f1a43-3a8c-4c1e-9d52-0c7f1f7c2a11";

    private const long Gb = 1024L * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, EmZone> _zones = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmDiskOffering> _diskOfferings = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmServiceOffering> _serviceOfferings = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmNetwork> _networks = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmTemplate> _templates = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmVirtualMachine> _vms = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmVolume> _volumes = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, EmSnapshot> _snapshots = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, EmJob> _jobs = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, SemaphoreSlim> _vmQueues = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<string, int> _vmInFlight = new(StringComparer.OrdinalIgnoreCase);
    private readonly CancellationTokenSource _disposed = new();
    private readonly List<Task> _running = [];
    private readonly OsseaEmulatorOptions _options;
    private readonly OsseaEmulatorFaults _faults;
    private readonly EmulatedBlockDevices _devices;
    private readonly string _created;
    private int _vmNumber = 100;
    private int _volumeNumber = 500;
    private int _maxVmConcurrency;

    public OsseaEmulatorCloud(OsseaEmulatorOptions options, OsseaEmulatorFaults faults, EmulatedBlockDevices devices)
    {
        _options = options;
        _faults = faults;
        _devices = devices;
        _created = Now();

        var zone = Add(_zones, id => new EmZone { Id = id, Name = "emulated-zone-1" });
        Zone = zone;
        CustomDiskOffering = Add(_diskOfferings, id => new EmDiskOffering { Id = id, Name = "Custom", DiskSizeGb = 0, IsCustomized = true });
        FixedDiskOffering = Add(_diskOfferings, id => new EmDiskOffering { Id = id, Name = "Small 2 GB", DiskSizeGb = 2, IsCustomized = false });
        ServiceOffering = Add(_serviceOfferings, id => new EmServiceOffering { Id = id, Name = "Medium 2 vCPU 4 GB", CpuNumber = 2, Memory = 4096 });
        Network = Add(_networks, id => new EmNetwork { Id = id, Name = "migration-net", Zone = zone, Cidr = "10.1.1.0/24", Gateway = "10.1.1.1" });
        Template = Add(_templates, id => new EmTemplate { Id = id, Name = "Emulated Linux", SizeBytes = 1 * Gb });

        var oma = NewVm("migratekit-oma", "MigrateKit OMA", zone, Template, ServiceOffering, "Running");
        oma.Nics.Add(NewNic(Network, null, null, isDefault: true));
        OmaVm = oma;
        var root = NewVolume("ROOT-" + oma.Number, zone, null, Template.SizeBytes);
        root.Type = "ROOT";
        AttachRecord(root, oma, 0);
        root.State = "Ready";
    }

    public EmZone Zone { get; }
    public EmDiskOffering CustomDiskOffering { get; }
    public EmDiskOffering FixedDiskOffering { get; }
    public EmServiceOffering ServiceOffering { get; }
    public EmNetwork Network { get; }
    public EmTemplate Template { get; }
    public EmVirtualMachine OmaVm { get; }

    /// <summary>The most attach/detach/start/stop/destroy jobs ever seen running at once on one VM.</summary>
    public int MaxVmConcurrency => Volatile.Read(ref _maxVmConcurrency);

    public IReadOnlyList<string> Commands { get; } =
    [
        "listZones", "listVolumes", "createVolume", "attachVolume", "detachVolume", "deleteVolume", "resizeVolume",
        "createSnapshot", "revertSnapshot", "deleteSnapshot", "listSnapshots", "deployVirtualMachine", "startVirtualMachine",
        "stopVirtualMachine", "destroyVirtualMachine", "listVirtualMachines", "listNetworks", "listServiceOfferings",
        "listDiskOfferings", "queryAsyncJobResult",
    ];

    public EmulatedVolumeView? VolumeView(string id)
    {
        lock (_gate)
        {
            return _volumes.TryGetValue(id, out var v)
                ? new EmulatedVolumeView(v.Id, v.Name, v.Type, v.State, v.SizeBytes, v.Vm?.Id, v.DeviceId, v.Removed)
                : null;
        }
    }

    public IReadOnlyList<EmulatedVolumeView> VolumeViews()
    {
        lock (_gate)
        {
            return _volumes.Values
                .Select(v => new EmulatedVolumeView(v.Id, v.Name, v.Type, v.State, v.SizeBytes, v.Vm?.Id, v.DeviceId, v.Removed))
                .ToList();
        }
    }

    public string? VmState(string id)
    {
        lock (_gate)
        {
            return _vms.TryGetValue(id, out var vm) ? (vm.Expunged ? "Expunged" : vm.State) : null;
        }
    }

    /// <summary>Runs one command; returns the inner envelope object.</summary>
    public JsonObject Execute(OsseaEmulatorParams p) => p.Command switch
    {
        "listZones" => ListZones(p),
        "listVolumes" => ListVolumes(p),
        "createVolume" => CreateVolume(p),
        "attachVolume" => AttachVolume(p),
        "detachVolume" => DetachVolume(p),
        "deleteVolume" => DeleteVolume(p),
        "resizeVolume" => ResizeVolume(p),
        "createSnapshot" => CreateSnapshot(p),
        "revertSnapshot" => RevertSnapshot(p),
        "deleteSnapshot" => DeleteSnapshot(p),
        "listSnapshots" => ListSnapshots(p),
        "deployVirtualMachine" => DeployVirtualMachine(p),
        "startVirtualMachine" => StartVirtualMachine(p),
        "stopVirtualMachine" => StopVirtualMachine(p),
        "destroyVirtualMachine" => DestroyVirtualMachine(p),
        "listVirtualMachines" => ListVirtualMachines(p),
        "listNetworks" => ListNetworks(p),
        "listServiceOfferings" => ListServiceOfferings(p),
        "listDiskOfferings" => ListDiskOfferings(p),
        "queryAsyncJobResult" => QueryAsyncJobResult(p),
        _ => throw new EmulatorApiError(432, 9999, $"Unknown API command: {p.Command}"),
    };

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
                && (vmId is null || (v.Vm is not null && v.Vm.Id.Equals(vmId, StringComparison.OrdinalIgnoreCase)))
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

    // ---------------------------------------------------------------- volumes

    private JsonObject CreateVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            var offering = p.Entity("diskofferingid", id => _diskOfferings.GetValueOrDefault(id), required: false);
            if (offering is null && p.Optional("snapshotid") is null)
            {
                throw EmulatorApiError.Param("At least one of disk Offering ID or snapshot ID must be passed whilst creating volume");
            }

            if (offering is null)
            {
                throw EmulatorApiError.Param("The emulator creates volumes from disk offerings only.");
            }

            var zone = p.Entity("zoneid", id => _zones.GetValueOrDefault(id), required: false)
                ?? throw EmulatorApiError.Param("Please specify a zone id when creating a new volume.");
            var sizeGb = p.Long("size");
            if (offering.IsCustomized && sizeGb is null)
            {
                throw EmulatorApiError.Param("This disk offering requires a custom size specified");
            }

            if (!offering.IsCustomized && sizeGb is not null)
            {
                throw EmulatorApiError.Param("This disk offering does not allow custom size");
            }

            var size = sizeGb ?? offering.DiskSizeGb;
            if (size < 1 || size > _options.MaxVolumeSizeGb)
            {
                throw EmulatorApiError.Param(
                    $"Volume size: {size}GB is out of allowed range. Max: {_options.MaxVolumeSizeGb} Min:1");
            }

            volume = NewVolume(p.Optional("name") ?? $"volume-{_volumeNumber + 1}", zone, offering, size * Gb);
        }

        var job = StartJob(p.Command, "Volume", volume.Id, null, () =>
        {
            lock (_gate)
            {
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["id"] = volume.Id, ["jobid"] = job.Id };
    }

    private JsonObject AttachVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        EmVirtualMachine vm;
        lock (_gate)
        {
            volume = p.Entity("id", LiveVolume);
            vm = p.Entity("virtualmachineid", LiveVm);
        }

        var deviceId = p.Long("deviceid");
        var job = StartJob(p.Command, "Volume", volume.Id, vm.Id, () =>
        {
            string serial;
            lock (_gate)
            {
                if (volume.Removed)
                {
                    throw EmulatorApiError.Param($"Volume {volume.Id} no longer exists.");
                }

                if (volume.Vm is not null)
                {
                    throw EmulatorApiError.Param($"volume: {volume.Name} is already attached to a VM: {volume.Vm.Name}");
                }

                if (volume.Busy || volume.State is not ("Allocated" or "Ready"))
                {
                    throw EmulatorApiError.Param($"Volume {volume.Name} is in state {volume.State}. It should be in Ready or Allocated state");
                }

                if (vm.State is not ("Running" or "Stopped"))
                {
                    throw EmulatorApiError.Param("Please specify a VM that is either running or stopped.");
                }

                var chosen = ChooseDeviceId(vm, deviceId);
                AttachRecord(volume, vm, chosen);
                if (chosen == 0)
                {
                    volume.Type = "ROOT";
                }

                if (vm.State == "Running")
                {
                    volume.State = "Ready";
                }

                volume.Busy = vm == OmaVm;
                serial = Serial(volume.Id);
            }

            if (vm == OmaVm)
            {
                try
                {
                    _devices.Expose(volume.Id, serial);
                }
                catch (Exception ex) when (ex is InvalidOperationException or IOException)
                {
                    lock (_gate)
                    {
                        DetachRecord(volume);
                        volume.Busy = false;
                    }

                    throw EmulatorApiError.Internal($"Failed to attach volume {volume.Name} to VM {vm.Name}: {ex.Message}");
                }
            }

            lock (_gate)
            {
                volume.Busy = false;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    /// <summary>ACS getDeviceId: explicit ids are range-checked; automatic is the lowest free in 1..max, 3 skipped (CD-ROM).</summary>
    private long ChooseDeviceId(EmVirtualMachine vm, long? requested)
    {
        var maxDeviceId = _options.MaxDataVolumes + 1L;
        var attached = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
        var used = attached.Select(v => v.DeviceId ?? -1).ToHashSet();
        if (requested is { } explicitId)
        {
            if (explicitId == 0)
            {
                if (vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param("Root volume can be attached only to a stopped VM.");
                }

                if (used.Contains(0))
                {
                    throw EmulatorApiError.Param($"Vm {vm.Name} already has a root volume attached to it");
                }

                return 0;
            }

            if (explicitId < 0 || explicitId == 3 || explicitId > maxDeviceId)
            {
                throw EmulatorApiError.Param($"deviceId should be 0,1,2,4-{maxDeviceId}");
            }

            if (used.Contains(explicitId))
            {
                throw EmulatorApiError.Param($"deviceId {explicitId} is used by vm {vm.Name}");
            }

            return explicitId;
        }

        if (attached.Count(v => v.Type == "DATADISK") >= _options.MaxDataVolumes)
        {
            throw EmulatorApiError.Param(
                $"The specified VM already has the maximum number of data disks ({_options.MaxDataVolumes}) attached. Please specify another VM.");
        }

        for (long id = 1; id <= maxDeviceId; id++)
        {
            if (id != 3 && !used.Contains(id))
            {
                return id;
            }
        }

        throw EmulatorApiError.Param(
            $"The specified VM already has the maximum number of data disks ({_options.MaxDataVolumes}) attached. Please specify another VM.");
    }

    private JsonObject DetachVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            var id = p.Optional("id");
            var deviceId = p.Long("deviceid");
            var vmId = p.Optional("virtualmachineid");
            if (id is null && (deviceId is null || vmId is null))
            {
                throw EmulatorApiError.Param("Please provide either a volume id, or a tuple(device id, instance id)");
            }

            if (id is not null)
            {
                volume = p.Entity("id", LiveVolume);
            }
            else
            {
                var vm = p.Entity("virtualmachineid", LiveVm);
                volume = _volumes.Values.FirstOrDefault(v => !v.Removed && v.Vm == vm && v.DeviceId == deviceId)
                    ?? throw EmulatorApiError.Param($"Unable to find volume with device id {deviceId} on VM {vm.Name}");
            }
        }

        var queueVm = VolumeVmId(volume);
        var job = StartJob(p.Command, "Volume", volume.Id, queueVm, () =>
        {
            EmVirtualMachine vm;
            lock (_gate)
            {
                vm = volume.Vm ?? throw EmulatorApiError.Param("Please specify a volume that is attached to a VM.");
                if (volume.Busy)
                {
                    throw EmulatorApiError.Param($"Volume {volume.Name} is busy with another operation.");
                }

                if (volume.DeviceId == 0 && vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param("Root volume detach is allowed only when the VM is stopped.");
                }

                volume.Busy = true;
            }

            try
            {
                if (vm == OmaVm)
                {
                    _devices.Withdraw(volume.Id);
                }
            }
            catch (InvalidOperationException ex)
            {
                lock (_gate)
                {
                    volume.Busy = false;
                }

                throw EmulatorApiError.Internal(
                    $"Could not detach volume {volume.Name}: the device is busy ({ex.Message})");
            }

            lock (_gate)
            {
                DetachRecord(volume);
                volume.Busy = false;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DeleteVolume(OsseaEmulatorParams p)
    {
        lock (_gate)
        {
            var volume = p.Entity("id", LiveVolume);
            if (volume.Vm is not null || volume.Busy)
            {
                throw EmulatorApiError.Param("Please specify a volume that is not attached to any VM.");
            }

            volume.Removed = true;
            volume.State = "Expunged";
            File.Delete(_devices.VolumeFile(volume.Id));
            return new JsonObject { ["success"] = true };
        }
    }

    private JsonObject ResizeVolume(OsseaEmulatorParams p)
    {
        EmVolume volume;
        lock (_gate)
        {
            volume = p.Entity("id", LiveVolume);
        }

        var sizeGb = p.Long("size");
        var shrinkOk = p.Bool("shrinkok", false);
        var job = StartJob(p.Command, "Volume", volume.Id, VolumeVmId(volume), () =>
        {
            lock (_gate)
            {
                if (volume.DiskOffering is { IsCustomized: false })
                {
                    throw EmulatorApiError.Param("Only volumes of a customized disk offering can be resized with a new size.");
                }

                var newSize = (sizeGb ?? throw EmulatorApiError.Param("New size is required")) * Gb;
                if (sizeGb < 1 || sizeGb > _options.MaxVolumeSizeGb)
                {
                    throw EmulatorApiError.Param($"Volume size: {sizeGb}GB is out of allowed range. Max: {_options.MaxVolumeSizeGb} Min:1");
                }

                if (newSize < volume.SizeBytes && !shrinkOk)
                {
                    throw EmulatorApiError.Param(
                        $"Going from existing size of {volume.SizeBytes} to size of {newSize} would shrink the volume. " +
                        "Need to sign off by supplying the shrinkok parameter with value of true.");
                }

                _devices.Resize(volume.Id, newSize);
                volume.SizeBytes = newSize;
                return new JsonObject { ["volume"] = volume.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    // ---------------------------------------------------------------- snapshots

    private JsonObject CreateSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            var volume = p.Entity("volumeid", LiveVolume);
            if (volume.State != "Ready")
            {
                throw EmulatorApiError.Param($"VolumeId: {volume.Id} is not in Ready state but {volume.State}. Cannot take snapshot.");
            }

            var name = p.Optional("name") ?? $"{volume.Vm?.Name ?? "detached"}_{volume.Name}_{_options.Time.GetUtcNow():yyyyMMddHHmmss}";
            snapshot = new EmSnapshot { Id = NewId(), Name = name, Volume = volume, Created = Now(), SizeBytes = volume.SizeBytes };
            _snapshots[snapshot.Id] = snapshot;
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, null, () =>
        {
            lock (_gate)
            {
                snapshot.State = "Creating";
            }

            EmulatedBlockDevices.CopySparse(_devices.VolumeFile(snapshot.Volume.Id), _devices.SnapshotFile(snapshot.Id));
            lock (_gate)
            {
                snapshot.State = "BackedUp";
                return new JsonObject { ["snapshot"] = snapshot.ToJson() };
            }
        }, onFailure: () =>
        {
            lock (_gate)
            {
                snapshot.State = "Error";
            }
        });
        return new JsonObject { ["id"] = snapshot.Id, ["jobid"] = job.Id };
    }

    private JsonObject RevertSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            snapshot = p.Entity("id", id => _snapshots.TryGetValue(id, out var s) && !s.Removed ? s : null);
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, VolumeVmId(snapshot.Volume), () =>
        {
            var volume = snapshot.Volume;
            lock (_gate)
            {
                if (snapshot.State != "BackedUp")
                {
                    throw EmulatorApiError.Param($"Snapshot {snapshot.Id} is in state {snapshot.State} and cannot be reverted.");
                }

                if (volume.Removed || volume.State != "Ready")
                {
                    throw EmulatorApiError.Param($"Volume {volume.Id} is not in Ready state.");
                }

                if (volume.Vm is not null && volume.Vm.State is not ("Stopped" or "Shutdown"))
                {
                    throw EmulatorApiError.Param("The VM the specified disk is attached to is not in the shutdown state.");
                }

                volume.State = "RevertSnapshotting";
            }

            try
            {
                var target = _devices.VolumeFile(volume.Id);
                File.Delete(target);
                EmulatedBlockDevices.CopySparse(_devices.SnapshotFile(snapshot.Id), target);
            }
            finally
            {
                lock (_gate)
                {
                    volume.State = "Ready";
                }
            }

            lock (_gate)
            {
                volume.SizeBytes = snapshot.SizeBytes;
                return new JsonObject { ["snapshot"] = snapshot.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DeleteSnapshot(OsseaEmulatorParams p)
    {
        EmSnapshot snapshot;
        lock (_gate)
        {
            snapshot = p.Entity("id", id => _snapshots.TryGetValue(id, out var s) && !s.Removed ? s : null);
        }

        var job = StartJob(p.Command, "Snapshot", snapshot.Id, null, () =>
        {
            lock (_gate)
            {
                snapshot.Removed = true;
                snapshot.State = "Destroyed";
                File.Delete(_devices.SnapshotFile(snapshot.Id));
                return new JsonObject { ["success"] = true };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    // ---------------------------------------------------------------- virtual machines

    private JsonObject DeployVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        var startVm = p.Bool("startvm", true);
        lock (_gate)
        {
            var offering = p.Entity("serviceofferingid", id => _serviceOfferings.GetValueOrDefault(id));
            var zone = p.Entity("zoneid", id => _zones.GetValueOrDefault(id));
            var template = p.Entity("templateid", id => _templates.GetValueOrDefault(id));
            var diskOffering = p.Entity("diskofferingid", id => _diskOfferings.GetValueOrDefault(id), required: false);
            var rootDiskSizeGb = p.Long("rootdisksize");
            var name = p.Optional("name") ?? $"VM-{Guid.NewGuid()}";
            if (!HostName().IsMatch(name))
            {
                throw EmulatorApiError.Param(
                    "Invalid name. Vm name can contain ASCII letters 'a' through 'z', the digits '0' through '9', and the hyphen ('-'), must be between 1 and 63 characters long, and can't start or end with \"-\" and can't start with digit");
            }

            if (_vms.Values.Any(v => !v.Expunged && v.Name.Equals(name, StringComparison.OrdinalIgnoreCase)))
            {
                throw EmulatorApiError.Param($"The vm with hostName {name} already exists in the network domain: cs2cloud.internal; network=migration-net");
            }

            var nicRequests = new List<(EmNetwork Network, string? Ip, string? Mac)>();
            var networkIds = p.Optional("networkids");
            var ipToNetwork = p.Map("iptonetworklist");
            if (networkIds is not null && ipToNetwork.Count > 0)
            {
                throw EmulatorApiError.Param("ipToNetworkMap can't be specified along with networkIds or ipAddress");
            }

            foreach (var id in networkIds?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [])
            {
                nicRequests.Add((_networks.GetValueOrDefault(id) ?? throw p.InvalidValue("networkids", id), null, null));
            }

            foreach (var entry in ipToNetwork.Values)
            {
                var networkId = entry.GetValueOrDefault("networkid") ?? throw EmulatorApiError.Param("Network id is required in iptonetworklist");
                nicRequests.Add((_networks.GetValueOrDefault(networkId) ?? throw p.InvalidValue("iptonetworklist", networkId),
                    entry.GetValueOrDefault("ip"), entry.GetValueOrDefault("mac")));
            }

            if (nicRequests.Count == 0)
            {
                throw EmulatorApiError.Param("Can't create vm without specifying a network: networkids or iptonetworklist is required by the emulated advanced zone.");
            }

            var defaultMac = p.Optional("macaddress");
            if (defaultMac is not null && nicRequests[0].Mac is null)
            {
                nicRequests[0] = nicRequests[0] with { Mac = defaultMac };
            }

            foreach (var (_, _, mac) in nicRequests)
            {
                if (mac is not null && !MacAddress().IsMatch(mac))
                {
                    throw EmulatorApiError.Param($"Mac address is not valid: {mac}");
                }
            }

            if (rootDiskSizeGb is < 1)
            {
                throw EmulatorApiError.Param("Root disk size should be a positive number.");
            }

            vm = NewVm(name, p.Optional("displayname") ?? name, zone, template, offering, "Stopped");
            for (var i = 0; i < nicRequests.Count; i++)
            {
                var (network, ip, mac) = nicRequests[i];
                if (_vms.Values.Any(v => !v.Expunged && v != vm && v.Nics.Any(n => n.MacAddress.Equals(mac, StringComparison.OrdinalIgnoreCase))))
                {
                    throw EmulatorApiError.Param($"The mac address {mac} is already in use in network {network.Name}");
                }

                vm.Nics.Add(NewNic(network, ip, mac, isDefault: i == 0));
            }

            foreach (var (_, entry) in p.Map("details"))
            {
                foreach (var (key, value) in entry)
                {
                    vm.Details[key] = value;
                }
            }

            var root = NewVolume($"ROOT-{vm.Number}", zone, null, (rootDiskSizeGb * Gb) ?? template.SizeBytes);
            root.Type = "ROOT";
            AttachRecord(root, vm, 0);
            if (diskOffering is not null)
            {
                var sizeGb = p.Long("size") ?? (diskOffering.IsCustomized
                    ? throw EmulatorApiError.Param("This disk offering requires a custom size specified")
                    : diskOffering.DiskSizeGb);
                var data = NewVolume($"DATA-{vm.Number}", zone, diskOffering, sizeGb * Gb);
                AttachRecord(data, vm, 1);
            }
        }

        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (startVm)
                {
                    Start(vm);
                }

                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        }, onFailure: () =>
        {
            lock (_gate)
            {
                vm.State = "Error";
            }
        });
        return new JsonObject { ["id"] = vm.Id, ["jobid"] = job.Id };
    }

    private JsonObject StartVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
        }

        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (vm.State == "Running")
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is already running");
                }

                if (vm.State != "Stopped")
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is in state {vm.State} and cannot be started");
                }

                Start(vm);
                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject StopVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
        }

        p.Bool("forced", false);
        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                if (vm.State is not ("Running" or "Stopped"))
                {
                    throw EmulatorApiError.Param($"VM {vm.Name} is in state {vm.State} and cannot be stopped");
                }

                vm.State = "Stopped";
                return new JsonObject { ["virtualmachine"] = vm.ToJson() };
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private JsonObject DestroyVirtualMachine(OsseaEmulatorParams p)
    {
        EmVirtualMachine vm;
        lock (_gate)
        {
            vm = p.Entity("id", LiveVm);
            if (vm == OmaVm)
            {
                throw EmulatorApiError.Param("The emulator refuses to destroy the OMA appliance VM.");
            }
        }

        var expunge = p.Bool("expunge", false);
        var job = StartJob(p.Command, "VirtualMachine", vm.Id, vm.Id, () =>
        {
            lock (_gate)
            {
                var attached = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
                vm.State = expunge ? "Expunging" : "Destroyed";
                var result = new JsonObject { ["virtualmachine"] = vm.ToJson() };
                if (expunge)
                {
                    // Expunge removes the ROOT disk with its data; data disks are detached and stay.
                    foreach (var volume in attached)
                    {
                        DetachRecord(volume);
                        if (volume.Type == "ROOT")
                        {
                            volume.Removed = true;
                            volume.State = "Expunged";
                            File.Delete(_devices.VolumeFile(volume.Id));
                        }
                    }

                    vm.Expunged = true;
                }
                else
                {
                    foreach (var volume in attached.Where(v => v.Type == "ROOT"))
                    {
                        volume.State = "Destroy";
                    }
                }

                return result;
            }
        });
        return new JsonObject { ["jobid"] = job.Id };
    }

    private void Start(EmVirtualMachine vm)
    {
        var volumes = _volumes.Values.Where(v => !v.Removed && v.Vm == vm).ToList();
        if (!volumes.Any(v => v.DeviceId == 0))
        {
            throw EmulatorApiError.Internal($"Unable to start VM {vm.Name}: it has no ROOT volume (device id 0) attached");
        }

        foreach (var volume in volumes)
        {
            volume.State = "Ready";
        }

        vm.State = "Running";
    }

    // ---------------------------------------------------------------- jobs

    private JsonObject QueryAsyncJobResult(OsseaEmulatorParams p)
    {
        var jobId = p.Required("jobid");
        var job = _jobs.GetValueOrDefault(jobId) ?? throw p.InvalidValue("jobid", jobId);
        lock (_gate)
        {
            return job.ToJson();
        }
    }

    /// <summary>
    /// Queues an async job. <paramref name="vmQueue"/> serializes jobs per VM like ACS's VM work
    /// queue. An <see cref="EmulatorApiError"/> from <paramref name="work"/> fails the job with its
    /// code; anything else with 530, as ApiAsyncJobDispatcher does.
    /// </summary>
    private EmJob StartJob(string command, string? instanceType, string? instanceId, string? vmQueue, Func<JsonObject> work, Action? onFailure = null)
    {
        var job = new EmJob
        {
            Id = NewId(), Command = command, JavaCommand = JavaClass(command), Created = Now(),
            InstanceType = instanceType, InstanceId = instanceId,
        };
        _jobs[job.Id] = job;
        var token = _disposed.Token;
        var task = Task.Run(async () =>
        {
            var delay = _faults.JobDelay(command) ?? _options.JobDelay;
            await Task.Delay(delay, token).ConfigureAwait(false);
            var queue = vmQueue is null ? null : _vmQueues.GetOrAdd(vmQueue, _ => new SemaphoreSlim(1, 1));
            if (queue is not null)
            {
                await queue.WaitAsync(token).ConfigureAwait(false);
            }

            try
            {
                if (vmQueue is not null)
                {
                    var now = _vmInFlight.AddOrUpdate(vmQueue, 1, (_, n) => n + 1);
                    InterlockedMax(ref _maxVmConcurrency, now);
                    // Give overlapping jobs a chance to collide if the queue were missing.
                    await Task.Delay(_options.VmOperationTime, token).ConfigureAwait(false);
                }

                JsonObject result;
                try
                {
                    if (_faults.TakeJobFailure(command) is { } injected)
                    {
                        throw new EmulatorApiError(injected.Code, injected.Code == 530 ? 4250 : 4350, injected.Text);
                    }

                    result = work();
                }
                catch (EmulatorApiError error)
                {
                    onFailure?.Invoke();
                    Complete(job, 2, error.Code, new JsonObject
                    {
                        ["uuidList"] = new JsonArray(), ["errorcode"] = error.Code, ["cserrorcode"] = error.CsErrorCode, ["errortext"] = error.Text,
                    });
                    return;
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    onFailure?.Invoke();
                    Complete(job, 2, 530, new JsonObject
                    {
                        ["uuidList"] = new JsonArray(), ["errorcode"] = 530, ["cserrorcode"] = 4250, ["errortext"] = ex.Message,
                    });
                    return;
                }

                Complete(job, 1, 0, result);
            }
            finally
            {
                if (vmQueue is not null)
                {
                    _vmInFlight.AddOrUpdate(vmQueue, 0, (_, n) => n - 1);
                    queue!.Release();
                }
            }
        }, token);
        lock (_running)
        {
            _running.RemoveAll(t => t.IsCompleted);
            _running.Add(task);
        }

        return job;
    }

    private void Complete(EmJob job, int status, int resultCode, JsonObject result)
    {
        lock (_gate)
        {
            job.Result = result;
            job.ResultCode = resultCode;
            job.Completed = Now();
            job.Status = status;
        }
    }

    public void Dispose()
    {
        _disposed.Cancel();
        Task[] running;
        lock (_running)
        {
            running = [.. _running];
        }

        try
        {
            Task.WaitAll(running, TimeSpan.FromSeconds(10));
        }
        catch (AggregateException)
        {
            // Cancelled jobs end with OperationCanceledException; nothing else to do.
        }

        _disposed.Dispose();
    }

    // ---------------------------------------------------------------- helpers

    private EmVolume? LiveVolume(string id) => _volumes.TryGetValue(id, out var v) && !v.Removed ? v : null;

    private EmVirtualMachine? LiveVm(string id) => _vms.TryGetValue(id, out var vm) && !vm.Expunged ? vm : null;

    private string? VolumeVmId(EmVolume volume)
    {
        lock (_gate)
        {
            return volume.Vm?.Id;
        }
    }

    private EmVolume NewVolume(string name, EmZone zone, EmDiskOffering? offering, long sizeBytes)
    {
        var volume = new EmVolume { Id = NewId(), Name = name, Zone = zone, DiskOffering = offering, Created = Now(), SizeBytes = sizeBytes };
        _volumeNumber++;
        _devices.CreateSparse(_devices.VolumeFile(volume.Id), sizeBytes);
        _volumes[volume.Id] = volume;
        return volume;
    }

    private EmVirtualMachine NewVm(string name, string displayName, EmZone zone, EmTemplate template, EmServiceOffering offering, string state)
    {
        var vm = new EmVirtualMachine
        {
            Id = NewId(), Name = name, DisplayName = displayName, Number = ++_vmNumber, Zone = zone, Template = template,
            ServiceOffering = offering, Created = Now(), State = state,
        };
        _vms[vm.Id] = vm;
        return vm;
    }

    private static EmNic NewNic(EmNetwork network, string? ip, string? mac, bool isDefault)
    {
        var host = network.NextHost++;
        return new EmNic
        {
            Id = NewId(), Network = network, IsDefault = isDefault,
            IpAddress = ip ?? $"10.1.1.{host}",
            MacAddress = mac ?? $"02:00:{Random.Shared.Next(256):x2}:{Random.Shared.Next(256):x2}:{host / 256:x2}:{host % 256:x2}",
        };
    }

    private void AttachRecord(EmVolume volume, EmVirtualMachine vm, long deviceId)
    {
        volume.Vm = vm;
        volume.DeviceId = deviceId;
        volume.Attached = Now();
    }

    private static void DetachRecord(EmVolume volume)
    {
        volume.Vm = null;
        volume.DeviceId = null;
        volume.Attached = null;
    }

    /// <summary>ACS LibvirtComputingResource.diskUuidToSerial.</summary>
    public static string Serial(string volumeId)
    {
        var compact = volumeId.Replace("-", string.Empty, StringComparison.Ordinal);
        return compact[..Math.Min(20, compact.Length)];
    }

    private static string JavaClass(string command) => command switch
    {
        "createVolume" => "org.apache.cloudstack.api.command.admin.volume.CreateVolumeCmdByAdmin",
        "attachVolume" => "org.apache.cloudstack.api.command.admin.volume.AttachVolumeCmdByAdmin",
        "detachVolume" => "org.apache.cloudstack.api.command.admin.volume.DetachVolumeCmdByAdmin",
        "resizeVolume" => "org.apache.cloudstack.api.command.admin.volume.ResizeVolumeCmdByAdmin",
        "createSnapshot" => "org.apache.cloudstack.api.command.user.snapshot.CreateSnapshotCmd",
        "revertSnapshot" => "org.apache.cloudstack.api.command.user.snapshot.RevertSnapshotCmd",
        "deleteSnapshot" => "org.apache.cloudstack.api.command.user.snapshot.DeleteSnapshotCmd",
        "deployVirtualMachine" => "org.apache.cloudstack.api.command.admin.vm.DeployVMCmdByAdmin",
        "startVirtualMachine" => "org.apache.cloudstack.api.command.admin.vm.StartVMCmdByAdmin",
        "stopVirtualMachine" => "org.apache.cloudstack.api.command.admin.vm.StopVMCmdByAdmin",
        "destroyVirtualMachine" => "org.apache.cloudstack.api.command.admin.vm.DestroyVMCmdByAdmin",
        _ => "org.apache.cloudstack.api.command." + command,
    };

    private string Now() => EmFormat.Date(_options.Time.GetUtcNow());

    private static string NewId() => Guid.NewGuid().ToString();

    private static T Add<T>(Dictionary<string, T> map, Func<string, T> create)
    {
        var id = NewId();
        return map[id] = create(id);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value
            && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }

    [GeneratedRegex("^[a-zA-Z][a-zA-Z0-9-]{0,61}[a-zA-Z0-9]$|^[a-zA-Z]$")]
    private static partial Regex HostName();

    [GeneratedRegex("^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")]
    private static partial Regex MacAddress();
}

/// <summary>A copy of a volume's emulator state, for test assertions.</summary>
public sealed record EmulatedVolumeView(
    string Id, string Name, string Type, string State, long SizeBytes, string? VirtualMachineId, long? DeviceId, bool Removed);
