using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using static MigrateKit.Lab.LabImages;

namespace MigrateKit.Lab;

/// <summary>One source disk: its device key in the simulator and the local image that is its content.</summary>
internal sealed record LabDisk(int DeviceKey, string Image, string Role)
{
    public string Before => Image + ".before";
}

/// <summary>
/// The migration story, step by step, through the admin REST API only: replicate (full), change files,
/// sync (incremental), test failover, clean it up, change files again, live failover. After every
/// data step each target volume is compared with its source image.
/// </summary>
internal sealed class LabStory(LabEnvironment env, LabReport report)
{
    private const string VmName = "mk-lab";
    private static readonly TimeSpan SyncTimeout = TimeSpan.FromMinutes(10);
    private static readonly TimeSpan FailoverTimeout = TimeSpan.FromMinutes(5);

    private readonly List<LabDisk> _disks = [];
    private string _moref = "";
    private int _configId;
    private Guid _replicationId;
    private string _testFailoverId = "";
    private byte[] _cutoverNote = [];
    private long _reported; // bytes change tracking reports for the next sync
    private Dictionary<string, string> _networkNames = [];

    public async Task RunAsync(CancellationToken ct)
    {
        await report.StepAsync("start the vCenter simulator", StartVCenterAsync, ct);
        await report.StepAsync("create the source disks", CreateDisksAsync, ct);
        await report.StepAsync("start the OSSEA emulator", StartOsseaAsync, ct);
        await report.StepAsync("start the OMA", StartOmaAsync, ct);
        await report.StepAsync("enroll and start the VMA agent", StartVmaAsync, ct);
        await report.StepAsync("add the OSSEA config", AddOsseaConfigAsync, ct);
        await report.StepAsync("full replication", FullReplicationAsync, ct);
        await report.StepAsync("change files on the source", ChangeFilesAsync, ct);
        await report.StepAsync("incremental sync", IncrementalSyncAsync, ct);
        await report.StepAsync("test failover", TestFailoverAsync, ct);
        await report.StepAsync("clean up the test failover", CleanupAsync, ct);
        await report.StepAsync("change files before the cutover", ChangeBeforeCutoverAsync, ct);
        await report.StepAsync("live failover", LiveFailoverAsync, ct);
    }

    private async Task<StepOutcome> StartVCenterAsync(CancellationToken ct)
    {
        await env.StartVCenterAsync(ct);
        var vm = (await env.VCenter.InventoryAsync(ct)).FirstOrDefault(v => v.Name == VmName)
            ?? throw new LabException($"the simulator has no VM '{VmName}'");
        _moref = vm.Moref;
        return new StepOutcome($"{env.VCenter.Url} with VM {VmName} ({vm.Moref}, {vm.PowerState}, {vm.DiskKeys.Count} disks, {vm.NicKeys.Count} NICs)");
    }

    private async Task<StepOutcome> CreateDisksAsync(CancellationToken ct)
    {
        var vm = (await env.VCenter.InventoryAsync(ct)).Single(v => v.Moref == _moref);
        Directory.CreateDirectory(env.Settings.ImageDirectory);
        for (var i = 0; i < vm.DiskKeys.Count; i++)
        {
            var image = Path.Combine(env.Settings.ImageDirectory, $"disk{i + 1}.raw");
            switch (i)
            {
                case 0:
                    await CreateFilesystemImageAsync(image, 128 * MiB, env.Settings.ImageDirectory, ct);
                    _disks.Add(new LabDisk(vm.DiskKeys[i], image, "ext4 with files"));
                    break;
                case 1:
                    CreateDataImage(image, 64 * MiB, [new LabExtent(0, 12 * MiB), new LabExtent(40 * MiB, 4 * MiB)]);
                    _disks.Add(new LabDisk(vm.DiskKeys[i], image, "data blocks"));
                    break;
                default:
                    CreateDataImage(image, 32 * MiB, [new LabExtent(MiB, 2 * MiB)]);
                    _disks.Add(new LabDisk(vm.DiskKeys[i], image, "data blocks"));
                    break;
            }
        }
        // A full copy reads what vCenter reports in use ("*" = since the disk's creation).
        var areas = new List<(string, int, string, IReadOnlyList<LabExtent>)>();
        long used = 0;
        foreach (var disk in _disks)
        {
            var extents = await DataExtentsAsync(disk.Image, ct);
            used += Sum(extents);
            areas.Add((_moref, disk.DeviceKey, "*", extents));
        }
        env.VCenter.WriteChangedAreas(areas);
        _reported = used;
        return new StepOutcome($"{_disks.Count} images in {env.Settings.ImageDirectory} ({string.Join(", ", _disks.Select(d => $"{Path.GetFileName(d.Image)}: {d.Role}"))}), {Bytes(used)} in use");
    }

    private async Task<StepOutcome> StartOsseaAsync(CancellationToken ct)
    {
        await env.StartOsseaAsync(ct);
        return new StepOutcome($"{env.Ossea.ApiUrl}, zone {env.Ossea.ZoneName}, attached volumes appear as loop devices under {env.Ossea.ByIdDirectory}");
    }

    private async Task<StepOutcome> StartOmaAsync(CancellationToken ct)
    {
        await env.StartOmaAsync(ct);
        return new StepOutcome($"admin API {env.ApiAddress}, tunnel 127.0.0.1:{env.TunnelPort}, admin token in {env.Settings.TokenFile}");
    }

    private async Task<StepOutcome> StartVmaAsync(CancellationToken ct)
    {
        await env.StartVmaAsync(_disks.Select(d => (_moref, d.DeviceKey, d.Image)).ToList(), ct);
        return new StepOutcome($"agent '{LabEnvironment.AgentName}' enrolled with a one-time token and the OMA's pinned fingerprint; tunnel connected");
    }

    private async Task<StepOutcome> AddOsseaConfigAsync(CancellationToken ct)
    {
        var config = await env.Api.PostAsync("api/v1/ossea-configs", new
        {
            name = "lab",
            apiUrl = env.Ossea.ApiUrl.ToString(),
            apiKey = env.Ossea.ApiKey,
            secretKey = env.Ossea.SecretKey,
            zone = env.Ossea.ZoneId,
            omaVmId = env.Ossea.OmaVmId,
            diskOfferingId = env.Ossea.CustomDiskOfferingId,
            serviceOfferingId = env.Ossea.ServiceOfferingId,
            templateId = env.Ossea.TemplateId,
            networkId = env.Ossea.NetworkId,
        }, ct, HttpStatusCode.Created);
        _configId = config.GetProperty("id").GetInt32();
        return new StepOutcome($"OSSEA config {_configId} (the OMA checked the keys and the zone)");
    }

    private async Task<StepOutcome> FullReplicationAsync(CancellationToken ct)
    {
        var job = await env.Api.PostAsync("api/v1/replications", new { vmMoref = _moref, agent = LabEnvironment.AgentName, osseaConfigId = _configId },
            ct, HttpStatusCode.Accepted);
        _replicationId = job.GetProperty("id").GetGuid();
        var done = await LabReport.TrackReplicationAsync(env.Api, _replicationId, null, SyncTimeout, ct);
        await AssertTargetsEqualAsync(null, ct);
        var sent = AssertSentOnlyReported(done);
        return new StepOutcome($"replication {_replicationId}: {_disks.Count} volumes created, attached to the OMA and filled; every target equals its source", sent);
    }

    private async Task<StepOutcome> ChangeFilesAsync(CancellationToken ct)
    {
        var changelog = Encoding.UTF8.GetBytes("2026: moved to OSSEA with MigrateKit\n" + new string('=', 5000) + "\n");
        var changed = await ChangeAsync(
            disk0: image => LabImages.ChangeFilesAsync(image,
                [("/docs/CHANGELOG.txt", changelog), ("/data/blob-2.bin", System.Security.Cryptography.RandomNumberGenerator.GetBytes((int)(4 * MiB)))],
                ["/data/blob-5.bin"], Path.Combine(env.Settings.ImageDirectory, "work"), ct),
            disk1: image => Fill(image, [new LabExtent(5 * MiB, 256 * 1024), new LabExtent(41 * MiB, 512 * 1024)]),
            ct);
        return new StepOutcome($"disk 1: wrote /docs/CHANGELOG.txt, rewrote /data/blob-2.bin, removed /data/blob-5.bin (e2fsck clean); disk 2: 768 KiB rewritten; " +
            $"change tracking reports {Bytes(changed)}");
    }

    private async Task<StepOutcome> IncrementalSyncAsync(CancellationToken ct)
    {
        var before = (await env.Api.GetAsync($"api/v1/replications/{_replicationId}", ct)).Time("lastSyncCompletedAt");
        await env.Api.PostAsync($"api/v1/replications/{_replicationId}/sync", null, ct, HttpStatusCode.Accepted);
        var done = await LabReport.TrackReplicationAsync(env.Api, _replicationId, before, SyncTimeout, ct);
        await AssertTargetsEqualAsync(null, ct);
        var sent = AssertSentOnlyReported(done);
        return new StepOutcome($"only the changed blocks crossed the tunnel ({Bytes(sent)} of {Bytes(_reported)} reported changed); every target equals its source", sent);
    }

    /// <summary>
    /// Each network the VM's NICs are on (as vCenter reports them through the agent) mapped to its own OSSEA
    /// network of the config (OSSEA allows one NIC per network), keeping the MACs.
    /// </summary>
    private async Task<IReadOnlyList<(string Source, string OsseaNetworkId, IReadOnlyList<string> Macs)>> NetworkMappingsAsync(CancellationToken ct)
    {
        var vm = await env.VmaVmAsync(_moref, ct);
        var sources = vm.Items("nics")
            .Where(n => n.Str("networkName") is not null)
            .GroupBy(n => n.Str("networkName")!, StringComparer.Ordinal)
            .ToList();
        var cloud = (await env.Api.GetAsync($"api/v1/ossea-configs/{_configId}/networks", ct)).Items().Select(n => (Id: n.Str("id")!, Name: n.Str("name"))).ToList();
        if (sources.Count == 0 || sources.Count > cloud.Count)
        {
            throw new LabException($"the VM's NICs are on {sources.Count} networks; the OSSEA config offers {cloud.Count}");
        }
        _networkNames = cloud.ToDictionary(n => n.Id, n => n.Name ?? n.Id);
        return sources.Select((g, i) => (g.Key, cloud[i].Id, (IReadOnlyList<string>)g.Select(n => n.Str("macAddress") ?? "").ToList())).ToList();
    }

    private static object[] MappingBodies(IEnumerable<(string Source, string OsseaNetworkId, IReadOnlyList<string> Macs)> mappings) =>
        mappings.Select(m => (object)new { sourceNetwork = m.Source, osseaNetworkId = m.OsseaNetworkId, keepMac = true }).ToArray();

    private async Task<StepOutcome> TestFailoverAsync(CancellationToken ct)
    {
        var mappings = await NetworkMappingsAsync(ct);
        var started = await env.Api.PostAsync("api/v1/failovers/test",
            new { replicationId = _replicationId, networkMappings = MappingBodies(mappings), vmName = "lab-web01-test" }, ct, HttpStatusCode.Accepted);
        _testFailoverId = started.Str("id") ?? throw new LabException($"POST /api/v1/failovers/test answered without an id: {started}");
        var done = await LabReport.TrackFailoverAsync(env.Api, _testFailoverId, ["completed"], ["failed", "rollback_failed"], FailoverTimeout, ct);
        var vmId = await AssertFailoverVmAsync(done, mappings, ct);
        var source = (await env.VCenter.InventoryAsync(ct)).Single(v => v.Moref == _moref);
        if (source.PowerState != "poweredOn")
        {
            throw new LabException($"the source VM is {source.PowerState} during the test failover (a test failover must leave it running)");
        }
        var hostname = Encoding.UTF8.GetString(await ReadFileAsync(await VolumeFileAsync(_disks[0], ct), "/etc/hostname", ct)).Trim();
        return new StepOutcome($"test VM {vmId} is Running on the replicated volumes, NICs on {string.Join(" and ", mappings.Select(m => $"'{m.Source}' → '{_networkNames[m.OsseaNetworkId]}'"))} with their MACs (" +
            $"{done.Items("snapshots").Count()} volume snapshots); its root disk says hostname '{hostname}'; the source kept running");
    }

    private async Task<StepOutcome> CleanupAsync(CancellationToken ct)
    {
        var vmId = (await env.Api.GetAsync($"api/v1/failovers/{_testFailoverId}", ct)).Str("destinationVmId")!;
        await env.Api.PostAsync($"api/v1/failovers/{_testFailoverId}/cleanup", null, ct, HttpStatusCode.Accepted);
        await LabReport.TrackFailoverAsync(env.Api, _testFailoverId, ["cleaned_up"], ["cleanup_failed"], FailoverTimeout, ct);
        var gone = await env.Api.GetStatusAsync($"api/v1/ossea-configs/{_configId}/vms/{vmId}", ct);
        if (gone.Status != HttpStatusCode.NotFound && gone.Body.Str("state") is not ("Expunged" or "Destroyed"))
        {
            throw new LabException($"the test VM {vmId} is still there after the cleanup: {gone.Body}");
        }
        await AssertTargetsEqualAsync(env.Ossea.OmaVmId, ct);
        var job = await env.Api.GetAsync($"api/v1/replications/{_replicationId}", ct);
        return new StepOutcome($"test VM {vmId} gone, volumes back on the OMA and equal to their sources; replication {job.Str("status")}");
    }

    private async Task<StepOutcome> ChangeBeforeCutoverAsync(CancellationToken ct)
    {
        _cutoverNote = Encoding.UTF8.GetBytes($"written on the source just before the cutover ({Guid.NewGuid():N})\n");
        var changed = await ChangeAsync(
            disk0: image => LabImages.ChangeFilesAsync(image, [("/docs/cutover.txt", _cutoverNote)], [], Path.Combine(env.Settings.ImageDirectory, "work"), ct),
            disk1: null,
            ct);
        return new StepOutcome($"disk 1: wrote /docs/cutover.txt; the live failover's final sync must carry it ({Bytes(changed)} changed)");
    }

    private async Task<StepOutcome> LiveFailoverAsync(CancellationToken ct)
    {
        var mappings = await NetworkMappingsAsync(ct);
        var started = await env.Api.PostAsync("api/v1/failovers/live",
            new { replicationId = _replicationId, networkMappings = MappingBodies(mappings), vmName = "lab-web01", shutdownSource = true }, ct, HttpStatusCode.Accepted);
        var id = started.Str("id") ?? throw new LabException($"POST /api/v1/failovers/live answered without an id: {started}");
        var done = await LabReport.TrackFailoverAsync(env.Api, id, ["completed"], ["failed", "rollback_failed"], FailoverTimeout, ct);
        var vmId = await AssertFailoverVmAsync(done, mappings, ct);
        var note = await ReadFileAsync(await VolumeFileAsync(_disks[0], ct), "/docs/cutover.txt", ct);
        if (!note.AsSpan().SequenceEqual(_cutoverNote))
        {
            throw new LabException("the migrated VM's root disk does not hold /docs/cutover.txt as written before the cutover");
        }
        var source = (await env.VCenter.InventoryAsync(ct)).Single(v => v.Moref == _moref);
        if (source.PowerState != "poweredOff")
        {
            throw new LabException($"the source VM is {source.PowerState} after the live failover (expected poweredOff)");
        }
        var job = await env.Api.GetAsync($"api/v1/replications/{_replicationId}", ct);
        if (job.Str("status") != "failed_over")
        {
            throw new LabException($"the replication is '{job.Str("status")}' after the live failover (expected failed_over)");
        }
        var sent = AssertSentOnlyReported(job);
        return new StepOutcome($"source shut down, final sync done, VM {vmId} Running in OSSEA with the source's MACs and /docs/cutover.txt; replication failed_over", sent);
    }

    /// <summary>
    /// The failover's VM, as the OMA's API shows it from OSSEA: Running, one NIC per mapping on the mapped
    /// network with the source NIC's MAC, and every replicated volume attached, each equal to its source.
    /// </summary>
    private async Task<string> AssertFailoverVmAsync(JsonElement failover, IReadOnlyList<(string Source, string OsseaNetworkId, IReadOnlyList<string> Macs)> mappings,
        CancellationToken ct)
    {
        var vmId = failover.Str("destinationVmId") ?? throw new LabException($"the failover has no destination VM: {failover}");
        var vm = await env.Api.GetAsync($"api/v1/ossea-configs/{_configId}/vms/{vmId}", ct);
        if (vm.Str("state") != "Running")
        {
            throw new LabException($"the failover's VM {vmId} is {vm.Str("state")}, not Running");
        }
        var nics = vm.Items("nics").Select(n => (Network: n.Str("networkId"), Mac: n.Str("macAddress"))).ToList();
        foreach (var (source, network, macs) in mappings)
        {
            foreach (var mac in macs)
            {
                if (!nics.Any(n => n.Network == network && string.Equals(n.Mac, mac, StringComparison.OrdinalIgnoreCase)))
                {
                    throw new LabException($"the VM has no NIC on {network} with MAC {mac} (source network '{source}'); its NICs: {string.Join(", ", nics)}");
                }
            }
        }
        await AssertTargetsEqualAsync(vmId, ct);
        return vmId;
    }

    /// <summary>Records a change of the source disks the way vCenter's change tracking would report it.</summary>
    private async Task<long> ChangeAsync(Func<string, Task> disk0, Action<string>? disk1, CancellationToken ct)
    {
        foreach (var disk in _disks)
        {
            await CopyAsync(disk.Image, disk.Before, ct);
        }
        await disk0(_disks[0].Image);
        disk1?.Invoke(_disks[1].Image);
        var job = await env.Api.GetAsync($"api/v1/replications/{_replicationId}", ct);
        var areas = new List<(string, int, string, IReadOnlyList<LabExtent>)>();
        long total = 0;
        foreach (var disk in _disks)
        {
            var changed = ChangedExtents(disk.Before, disk.Image);
            File.Delete(disk.Before);
            var changeId = job.Items("disks").FirstOrDefault(d => d.Str("diskId") == disk.DeviceKey.ToString(CultureInfo.InvariantCulture)).Str("diskChangeId")
                ?? throw new LabException($"the replication has no change id for disk {disk.DeviceKey}");
            areas.Add((_moref, disk.DeviceKey, changeId, changed));
            total += Sum(changed);
        }
        env.VCenter.WriteChangedAreas(areas);
        _reported = total;
        return total;
    }

    /// <summary>The last sync sent something, and no more than change tracking reported (it copies changed areas only).</summary>
    private long AssertSentOnlyReported(JsonElement job)
    {
        var sent = job.Long("bytesTransferred");
        if (sent <= 0 || sent > _reported)
        {
            throw new LabException($"the sync sent {sent} bytes; change tracking reported {_reported}");
        }
        return sent;
    }

    private async Task<string> VolumeFileAsync(LabDisk disk, CancellationToken ct) => (await VolumesAsync(ct))[disk.DeviceKey].File;

    /// <summary>Per disk: the OSSEA volume's id, the VM it is attached to, and the file holding its data in the emulator.</summary>
    private async Task<Dictionary<int, (string VolumeId, string? AttachedVmId, string File)>> VolumesAsync(CancellationToken ct)
    {
        var job = await env.Api.GetAsync($"api/v1/replications/{_replicationId}", ct);
        var volumes = (await env.Api.GetAsync("api/v1/volumes", ct)).Items().ToDictionary(v => v.Long("id"));
        var result = new Dictionary<int, (string, string?, string)>();
        foreach (var disk in job.Items("disks"))
        {
            var key = int.Parse(disk.Str("diskId")!, CultureInfo.InvariantCulture);
            if (!volumes.TryGetValue(disk.Long("osseaVolumeId"), out var volume))
            {
                throw new LabException($"disk {key} of the replication has no volume in GET /api/v1/volumes");
            }
            var volumeId = volume.Str("volumeId")!;
            result[key] = (volumeId, volume.Str("attachedVmId"), env.Ossea.VolumeFileOf(volumeId));
        }
        return result;
    }

    /// <summary>Every source image equals its target volume (qemu-img compare); with <paramref name="attachedTo"/>, each volume sits on that VM.</summary>
    private async Task AssertTargetsEqualAsync(string? attachedTo, CancellationToken ct)
    {
        var volumes = await VolumesAsync(ct);
        foreach (var disk in _disks)
        {
            if (!volumes.TryGetValue(disk.DeviceKey, out var volume))
            {
                throw new LabException($"the replication has no volume for disk {disk.DeviceKey}");
            }
            if (attachedTo is not null && volume.AttachedVmId != attachedTo)
            {
                throw new LabException($"volume {volume.VolumeId} (disk {disk.DeviceKey}) is attached to {volume.AttachedVmId ?? "nothing"}, expected {attachedTo}");
            }
            if (await CompareAsync(disk.Image, volume.File, ct) is { } difference)
            {
                throw new LabException($"target volume {volume.VolumeId} differs from {disk.Image}: {difference}");
            }
        }
    }

    private static string Bytes(long bytes) => LabReport.Bytes(bytes);
}
