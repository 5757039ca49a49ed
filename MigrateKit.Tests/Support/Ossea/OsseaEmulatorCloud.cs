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
        CustomServiceOffering = Add(_serviceOfferings, id => new EmServiceOffering { Id = id, Name = "Custom", IsCustomized = true });
        Network = Add(_networks, id => new EmNetwork { Id = id, Name = "migration-net", Zone = zone, Cidr = "10.1.1.0/24", Gateway = "10.1.1.1" });
        SecondNetwork = Add(_networks, id => new EmNetwork { Id = id, Name = "failover-net", Zone = zone, Cidr = "10.2.2.0/24", Gateway = "10.2.2.1" });
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
    public EmServiceOffering CustomServiceOffering { get; }
    public EmNetwork Network { get; }
    public EmNetwork SecondNetwork { get; }
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
            IpAddress = ip ?? $"{network.Cidr[..network.Cidr.LastIndexOf('.')]}.{host}",
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
