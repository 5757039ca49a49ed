using System.Globalization;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Failover.Run;

/// <summary>A failover step failed for a reason an operator must read (it becomes the failover's error).</summary>
internal sealed class FailoverException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>One replicated disk and the volume that holds it.</summary>
internal sealed record PlannedVolume(VmDiskView Disk, VolumeView Volume);

/// <summary>Everything the failover needs to build the OSSEA VM, checked by the preflight.</summary>
internal sealed record FailoverPlan(
    ReplicationJobView Replication, SourceVmSpecView Spec, PlannedVolume Root, IReadOnlyList<PlannedVolume> Data,
    IReadOnlyList<VmNicRequest> Nics, string ServiceOfferingId, int? CpuNumber, int? MemoryMb)
{
    public IEnumerable<PlannedVolume> All => Data.Prepend(Root);

    /// <summary>VirtIO drivers go into guests whose vSphere guest id says Windows (windows9_64Guest, windows2019srv_64Guest, …).</summary>
    public bool IsWindows => Spec.GuestId?.StartsWith("windows", StringComparison.OrdinalIgnoreCase) == true;
}

/// <summary>
/// The failover preflight. Request checks need only the database (the API answers 400/404/409
/// with them at once); the full preflight also asks OSSEA (config, networks, service offering,
/// volumes) and runs again as the failover's first step, because time passes between the two.
/// </summary>
internal sealed class FailoverPlanner(IMediator mediator, FailoverOptions options)
{
    /// <summary>The replication, if it can be failed over now: 404 unknown, 409 a state that cannot.</summary>
    public async Task<(ReplicationJobView Replication, SourceVmSpecView Spec)> CheckReplicationAsync(Guid replicationId, CancellationToken ct)
    {
        var replication = await mediator.Send(new GetReplicationQuery(replicationId), ct)
            ?? throw new NotFoundException($"No replication {replicationId}.");
        if (ReplicationProblem(replication) is { } problem)
        {
            throw new ConflictException(problem);
        }
        var spec = await mediator.Send(new GetSourceVmSpecQuery(replicationId), ct)
            ?? throw new ConflictException($"Replication {replicationId} has no description of the source VM yet; run a sync first.");
        return (replication, spec);
    }

    /// <summary>Source networks (with the NICs on them) that no mapping names.</summary>
    public static IReadOnlyList<string> UnmappedNetworks(SourceVmSpecView spec, IReadOnlyList<NetworkMapping> mappings)
    {
        var mapped = mappings.Select(m => m.SourceNetwork).ToHashSet(StringComparer.Ordinal);
        return spec.Nics.Where(n => !mapped.Contains(n.NetworkName))
            .GroupBy(n => n.NetworkName, StringComparer.Ordinal)
            .Select(g => $"source network '{g.Key}' (NIC {string.Join(", ", g.Select(NicName))}) is not mapped to an OSSEA network")
            .ToList();
    }

    public async Task<FailoverPlan> PreflightAsync(FailoverRow row, IJobScope scope, CancellationToken ct)
    {
        ReplicationJobView replication;
        SourceVmSpecView spec;
        try
        {
            (replication, spec) = await CheckReplicationAsync(row.ReplicationJobId, ct);
        }
        catch (Exception ex) when (ex is NotFoundException or ConflictException)
        {
            throw new FailoverException(ex.Message, ex);
        }
        await scope.InfoAsync(
            $"replication {replication.Id} of VM '{replication.SourceVmName}' ({replication.SourceVmId}): last sync completed at {replication.LastSyncCompletedAt:O}, {replication.Disks.Count} disk(s)",
            ct);
        await scope.InfoAsync(
            $"source VM: guest {spec.GuestId ?? "unknown"} ({spec.GuestFullName ?? "-"}), firmware {spec.Firmware ?? "unknown"}, {spec.NumCpu?.ToString(CultureInfo.InvariantCulture) ?? "?"} vCPU, {spec.MemoryMb?.ToString(CultureInfo.InvariantCulture) ?? "?"} MB, {spec.Nics.Count} NIC(s), described at {spec.CapturedAt:O}",
            ct);

        var mappings = row.Mappings;
        if (UnmappedNetworks(spec, mappings) is { Count: > 0 } unmapped)
        {
            throw new FailoverException(string.Join("; ", unmapped));
        }

        var configId = replication.OsseaConfigId;
        var config = await mediator.Send(new GetOsseaConfigQuery(configId), ct)
            ?? throw new FailoverException($"OSSEA config {configId} of the replication no longer exists");
        var check = await mediator.Send(new CheckOsseaConfigQuery(configId), ct);
        if (!check.Ok)
        {
            throw new FailoverException($"OSSEA config {configId} ('{config.Name}') does not work: {check.Error}");
        }
        await scope.InfoAsync($"OSSEA config {configId} ('{config.Name}') answers", ct);

        var nics = await PlanNicsAsync(configId, config, spec, mappings, scope, ct);
        var (offeringId, cpu, memory) = await PlanOfferingAsync(configId, config, row.Options.ServiceOfferingId, spec, scope, ct);
        var (root, data) = await PlanVolumesAsync(replication, scope, ct);
        return new FailoverPlan(replication, spec, root, data, nics, offeringId, cpu, memory);
    }

    private async Task<IReadOnlyList<VmNicRequest>> PlanNicsAsync(int configId, OsseaConfigView config, SourceVmSpecView spec,
        IReadOnlyList<NetworkMapping> mappings, IJobScope scope, CancellationToken ct)
    {
        var networks = (await mediator.Send(new ListOsseaNetworksQuery(configId), ct)).ToDictionary(n => n.Id, StringComparer.OrdinalIgnoreCase);
        var byName = mappings.ToDictionary(m => m.SourceNetwork, StringComparer.Ordinal);
        var missing = mappings.Where(m => spec.Nics.Any(n => n.NetworkName == m.SourceNetwork) && !networks.ContainsKey(m.OsseaNetworkId))
            .Select(m => $"source network '{m.SourceNetwork}' is mapped to OSSEA network {m.OsseaNetworkId}, which does not exist in zone {config.Zone}")
            .ToList();
        if (missing.Count > 0)
        {
            throw new FailoverException(string.Join("; ", missing));
        }
        foreach (var extra in mappings.Where(m => spec.Nics.All(n => n.NetworkName != m.SourceNetwork)))
        {
            await scope.WarnAsync($"mapping of source network '{extra.SourceNetwork}' is not used: the source VM has no NIC on it", ct);
        }
        var nics = new List<VmNicRequest>();
        foreach (var nic in spec.Nics.OrderBy(n => n.DeviceKey))
        {
            var mapping = byName[nic.NetworkName];
            var network = networks[mapping.OsseaNetworkId];
            var mac = mapping.KeepMac ? nic.MacAddress : null;
            if (mapping.KeepMac && mac is null)
            {
                await scope.WarnAsync($"NIC {NicName(nic)}: the source reports no MAC address to keep; OSSEA assigns one", ct);
            }
            nics.Add(new VmNicRequest(network.Id, mac));
            await scope.InfoAsync(
                $"NIC {NicName(nic)} on '{nic.NetworkName}' → OSSEA network '{network.Name}' ({network.Id}){(mac is null ? "" : $", MAC {mac} kept")}", ct);
        }
        var shared = spec.Nics.OrderBy(n => n.DeviceKey).Zip(nics)
            .GroupBy(p => p.Second.NetworkId, StringComparer.OrdinalIgnoreCase).Where(g => g.Count() > 1).ToList();
        if (shared.Count > 0)
        {
            // CloudStack gives a VM at most one NIC per network.
            throw new FailoverException(string.Join("; ", shared.Select(g =>
                $"NICs {string.Join(" and ", g.Select(p => $"{NicName(p.First)} ('{p.First.NetworkName}')"))} would all join OSSEA network '{networks[g.Key].Name}' ({g.Key}), and OSSEA allows one NIC per network; map them to different OSSEA networks")));
        }
        if (nics.Count == 0)
        {
            var fallback = config.NetworkId ?? throw new FailoverException("the source VM has no NICs and the OSSEA config names no default network");
            if (!networks.ContainsKey(fallback))
            {
                throw new FailoverException($"the source VM has no NICs and the config's network {fallback} does not exist");
            }
            nics.Add(new VmNicRequest(fallback));
            await scope.WarnAsync($"the source VM has no NICs; the VM gets one on the config's network {fallback} (OSSEA needs one)", ct);
        }
        return nics;
    }

    private async Task<(string Id, int? Cpu, int? Memory)> PlanOfferingAsync(int configId, OsseaConfigView config, string? requested,
        SourceVmSpecView spec, IJobScope scope, CancellationToken ct)
    {
        var offeringId = requested ?? config.ServiceOfferingId
            ?? throw new FailoverException("no service offering: give serviceOfferingId or set one on the OSSEA config");
        var offering = (await mediator.Send(new ListServiceOfferingsQuery(configId), ct))
            .FirstOrDefault(o => o.Id.Equals(offeringId, StringComparison.OrdinalIgnoreCase))
            ?? throw new FailoverException($"service offering {offeringId} does not exist");
        var needCpu = spec.NumCpu ?? 1;
        var needMemory = spec.MemoryMb ?? 1024;
        if (offering.IsCustomized)
        {
            await scope.InfoAsync($"service offering '{offering.Name}' is customized: {needCpu} vCPU, {needMemory} MB as the source", ct);
            return (offering.Id, needCpu, needMemory);
        }
        if (offering.CpuNumber < needCpu || offering.MemoryMb < needMemory)
        {
            throw new FailoverException(
                $"service offering '{offering.Name}' ({offering.CpuNumber} vCPU, {offering.MemoryMb} MB) is smaller than the source VM ({needCpu} vCPU, {needMemory} MB); choose a larger or a customized one");
        }
        await scope.InfoAsync(
            $"service offering '{offering.Name}' ({offering.CpuNumber} vCPU, {offering.MemoryMb} MB) fits the source VM ({needCpu} vCPU, {needMemory} MB)", ct);
        return (offering.Id, null, null);
    }

    private async Task<(PlannedVolume Root, IReadOnlyList<PlannedVolume> Data)> PlanVolumesAsync(
        ReplicationJobView replication, IJobScope scope, CancellationToken ct)
    {
        var planned = new List<PlannedVolume>();
        var problems = new List<string>();
        foreach (var disk in OrderDisks(replication.Disks))
        {
            var volume = disk.OsseaVolumeId is { } rowId ? await mediator.Send(new GetVolumeByRowIdQuery(rowId), ct) : null;
            if (volume is null)
            {
                problems.Add($"disk {disk.DiskId} has no volume");
            }
            else if (!string.Equals(volume.Status, OsseaVolumeStates.Ready, StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"volume {volume.VolumeId} of disk {disk.DiskId} is {volume.Status}, not Ready");
            }
            else if (volume.Mapping is not { OperationMode: OperationModes.Oma })
            {
                problems.Add($"volume {volume.VolumeId} of disk {disk.DiskId} is not attached to the OMA{(volume.AttachedVmId is { } vm ? $" (it is on VM {vm})" : "")}");
            }
            else if (disk.SyncStatus != DiskSyncStatuses.Completed || disk.DiskChangeId is null)
            {
                problems.Add($"disk {disk.DiskId} has no completed sync ({disk.SyncStatus})");
            }
            else
            {
                planned.Add(new PlannedVolume(disk, volume));
            }
        }
        if (problems.Count > 0)
        {
            throw new FailoverException(string.Join("; ", problems));
        }
        if (planned.Count == 0)
        {
            throw new FailoverException("the replication has no disks");
        }
        if (planned.Count - 1 > options.MaxDataVolumes)
        {
            throw new FailoverException($"the VM has {planned.Count - 1} data disks; OSSEA allows {options.MaxDataVolumes} (Failover:MaxDataVolumes)");
        }
        foreach (var (p, i) in planned.Select((p, i) => (p, i)))
        {
            await scope.InfoAsync(
                $"disk {p.Disk.DiskId} (unit {p.Disk.UnitNumber?.ToString(CultureInfo.InvariantCulture) ?? "?"}, {p.Disk.Label ?? "no label"}) → volume {p.Volume.VolumeId} ({p.Volume.SizeBytes} bytes, {p.Volume.Status}) as {(i == 0 ? "root" : "data")} disk",
                ct);
        }
        return (planned[0], planned.Skip(1).ToList());
    }

    /// <summary>The boot disk first: vSphere device keys run in controller then unit order (2000 = the first disk of the first controller).</summary>
    public static IEnumerable<VmDiskView> OrderDisks(IEnumerable<VmDiskView> disks) =>
        disks.OrderBy(d => int.TryParse(d.DiskId, NumberStyles.Integer, CultureInfo.InvariantCulture, out var key) ? key : int.MaxValue)
            .ThenBy(d => d.UnitNumber ?? int.MaxValue)
            .ThenBy(d => d.Id);

    /// <summary>What keeps a replication from failing over now; null when nothing does.</summary>
    public static string? ReplicationProblem(ReplicationJobView replication) => replication.Status switch
    {
        ReplicationStatuses.FailedOver => $"Replication {replication.Id} has been failed over already.",
        ReplicationStatuses.Cancelled => $"Replication {replication.Id} is cancelled.",
        ReplicationStatuses.Replicating => $"Replication {replication.Id} is syncing; fail over once the sync has ended.",
        _ when replication.HoldReason is { } hold =>
            $"Replication {replication.Id} is held ('{hold}'): another failover or an operator is using its volumes.",
        _ when replication.LastSyncCompletedAt is null => $"Replication {replication.Id} has not completed a sync yet; there is nothing to fail over.",
        ReplicationStatuses.Failed =>
            $"The last sync of replication {replication.Id} failed ({replication.ErrorMessage}); its volumes may hold a half-copied state. Run a sync that completes first.",
        ReplicationStatuses.Idle => null,
        _ => $"Replication {replication.Id} is {replication.Status}; fail over once it is idle.",
    };

    private static string NicName(SourceNicView nic) => nic.Label is { Length: > 0 } label ? $"'{label}'" : nic.DeviceKey.ToString(CultureInfo.InvariantCulture);
}
