using System.Text.Json;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// <see cref="IOsseaClient"/> over one OSSEA endpoint. Built by <see cref="OsseaClientFactory"/>.
/// </summary>
/// <remarks>
/// Lost answers: a state-changing request whose answer never arrived is not sent again blindly.
/// The client first looks at OSSEA's state (volume by name, attachment of the volume, …) and only
/// repeats the request when that shows it did not happen. See <see cref="RecoverAsync{T}"/>.
/// </remarks>
internal sealed class OsseaClient : IOsseaClient
{
    private const int MaxPages = 1000;

    private readonly OsseaApiConnection _connection;
    private readonly OsseaJobRunner _jobs;
    private readonly ILogger _logger;

    public OsseaClient(OsseaApiConnection connection, OsseaJobRunner jobs, string zone, ILogger logger)
    {
        _connection = connection;
        _jobs = jobs;
        Zone = zone;
        _logger = logger;
    }

    public string Zone { get; }

    private OsseaClientOptions Options => _connection.Options;

    public async Task<OsseaConnectionCheck> TestConnectionAsync(CancellationToken cancellationToken)
    {
        try
        {
            var byId = Guid.TryParse(Zone, out _);
            var zones = await ListZonesAsync(byId ? Zone : null, byId ? null : Zone, cancellationToken).ConfigureAwait(false);
            var zone = zones.FirstOrDefault(z => string.Equals(z.Id, Zone, StringComparison.OrdinalIgnoreCase)
                || string.Equals(z.Name, Zone, StringComparison.Ordinal));
            return zone is null
                ? new OsseaConnectionCheck(false, null, $"Connected, but zone '{Zone}' does not exist or is not visible to this account.")
                : new OsseaConnectionCheck(true, zone, $"Connected; zone '{zone.Name}' ({zone.Id}) found.");
        }
        catch (OsseaApiException ex)
        {
            var message = ex.Code switch
            {
                OsseaErrorCodes.Unauthorized => "OSSEA rejected the credentials (check the api key and the secret key).",
                OsseaErrorCodes.ParamError when Guid.TryParse(Zone, out _) => $"Zone '{Zone}' does not exist.",
                OsseaErrorCodes.NoResponse => $"OSSEA did not answer: {ex.Text}.",
                _ => $"OSSEA answered {ex.Code}: {ex.Text}",
            };
            return new OsseaConnectionCheck(false, null, message, ex.Code);
        }
    }

    public Task<IReadOnlyList<OsseaZone>> ListZonesAsync(string? id, string? name, CancellationToken cancellationToken)
        => ListAsync<OsseaZone>("listZones", "zone", listAll: false, r => r.Add("id", id).Add("name", name), cancellationToken);

    public Task<IReadOnlyList<OsseaVolume>> ListVolumesAsync(OsseaVolumeQuery query, CancellationToken cancellationToken)
        => ListAsync<OsseaVolume>("listVolumes", "volume", listAll: true, r => r
            .Add("id", query.Id)
            .Add("virtualmachineid", query.VirtualMachineId)
            .Add("name", query.Name)
            .Add("zoneid", query.ZoneId)
            .Add("type", query.Type), cancellationToken);

    public async Task<OsseaVolume?> GetVolumeAsync(string volumeId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        try
        {
            var volumes = await ListVolumesAsync(new OsseaVolumeQuery(Id: volumeId), cancellationToken).ConfigureAwait(false);
            return volumes.FirstOrDefault(v => string.Equals(v.Id, volumeId, StringComparison.OrdinalIgnoreCase));
        }
        catch (OsseaApiException ex) when (ex.Code == OsseaErrorCodes.ParamError)
        {
            // CloudStack answers an id it cannot translate to an entity with 431 "entity does not exist".
            return null;
        }
    }

    public Task<OsseaVolume> CreateVolumeAsync(OsseaCreateVolume request, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.DiskOfferingId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ZoneId);
        if (request.SizeGb is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.SizeGb, "A volume is at least 1 GB.");
        }

        var call = new OsseaRequest("createVolume", readOnly: false)
            .Add("name", request.Name)
            .Add("diskofferingid", request.DiskOfferingId)
            .Add("zoneid", request.ZoneId)
            .Add("size", request.SizeGb);

        return RecoverAsync(
            call.Command, request.Name,
            ct => _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVolume>(r, "volume"), ct),
            async ct =>
            {
                var found = await ListVolumesAsync(new OsseaVolumeQuery(Name: request.Name, ZoneId: request.ZoneId), ct).ConfigureAwait(false);
                var volume = Single(call.Command, request.Name, found.Where(v => v.Name == request.Name && !v.Destroyed));
                return volume is null
                    ? null
                    : await _jobs.WaitForStateAsync(call.Command, volume.Id, c => GetVolumeAsync(volume.Id, c),
                        v => v is null || !string.Equals(v.State, OsseaVolumeStates.Creating, StringComparison.OrdinalIgnoreCase), ct).ConfigureAwait(false);
            },
            cancellationToken);
    }

    public Task<OsseaVolume> AttachVolumeAsync(
        string volumeId, string virtualMachineId, long? deviceId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        ArgumentException.ThrowIfNullOrWhiteSpace(virtualMachineId);
        var call = new OsseaRequest("attachVolume", readOnly: false)
            .Add("id", volumeId)
            .Add("virtualmachineid", virtualMachineId)
            .Add("deviceid", deviceId);

        return RecoverAsync(
            call.Command, volumeId,
            ct => _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVolume>(r, "volume"), ct),
            async ct =>
            {
                var volume = await SettledVolumeAsync(call.Command, volumeId, ct).ConfigureAwait(false);
                if (volume?.VirtualMachineId is null)
                {
                    return null;
                }

                return string.Equals(volume.VirtualMachineId, virtualMachineId, StringComparison.OrdinalIgnoreCase)
                    ? volume
                    : throw new OsseaApiException(call.Command, OsseaErrorCodes.ParamError, null,
                        $"volume {volumeId} is attached to VM {volume.VirtualMachineId}, not {virtualMachineId}", isTransient: false);
            },
            cancellationToken);
    }

    public Task<OsseaVolume> DetachVolumeAsync(string volumeId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        var call = new OsseaRequest("detachVolume", readOnly: false).Add("id", volumeId);
        return RecoverAsync(
            call.Command, volumeId,
            ct => _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVolume>(r, "volume"), ct),
            async ct =>
            {
                var volume = await SettledVolumeAsync(call.Command, volumeId, ct).ConfigureAwait(false);
                return volume is { VirtualMachineId: null } ? volume : null;
            },
            cancellationToken);
    }

    public async Task DeleteVolumeAsync(string volumeId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        var call = new OsseaRequest("deleteVolume", readOnly: false).Add("id", volumeId);
        await RecoverAsync(
            call.Command, volumeId,
            async ct =>
            {
                var success = await _connection.CallAsync(call, OsseaResponseReader.ReadSuccess, ct).ConfigureAwait(false);
                return success
                    ? volumeId
                    : throw new OsseaApiException(call.Command, OsseaErrorCodes.InternalError, null, "deleteVolume answered success=false", isTransient: false);
            },
            async ct =>
            {
                var volume = await GetVolumeAsync(volumeId, ct).ConfigureAwait(false);
                return volume is null || volume.Destroyed || string.Equals(volume.State, OsseaVolumeStates.Expunged, StringComparison.OrdinalIgnoreCase)
                    ? volumeId
                    : null;
            },
            cancellationToken).ConfigureAwait(false);
    }

    public Task<OsseaVolume> ResizeVolumeAsync(string volumeId, long sizeGb, bool shrinkOk, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        ArgumentOutOfRangeException.ThrowIfLessThan(sizeGb, 1);
        var call = new OsseaRequest("resizeVolume", readOnly: false)
            .Add("id", volumeId)
            .Add("size", sizeGb)
            .Add("shrinkok", shrinkOk ? true : null);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVolume>(r, "volume"), cancellationToken);
    }

    public Task<OsseaSnapshot> CreateSnapshotAsync(string volumeId, string name, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var call = new OsseaRequest("createSnapshot", readOnly: false).Add("volumeid", volumeId).Add("name", name);
        return RecoverAsync(
            call.Command, name,
            ct => _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaSnapshot>(r, "snapshot"), ct),
            async ct =>
            {
                var found = await ListSnapshotsAsync(null, volumeId, name, ct).ConfigureAwait(false);
                var snapshot = Single(call.Command, name, found.Where(s => s.Name == name));
                if (snapshot is null)
                {
                    return null;
                }

                var settled = await _jobs.WaitForStateAsync(call.Command, snapshot.Id,
                    async c => (await ListSnapshotsAsync(snapshot.Id, null, null, c).ConfigureAwait(false)).FirstOrDefault(),
                    s => s is null || s.State is "BackedUp" or "CreatedOnPrimary" or "Error" or "Destroyed", ct).ConfigureAwait(false);
                return settled is null || settled.State is "Error" or "Destroyed"
                    ? throw new OsseaApiException(call.Command, OsseaErrorCodes.InternalError, null,
                        $"snapshot {snapshot.Id} ended in state {settled?.State ?? "removed"}", isTransient: false)
                    : settled;
            },
            cancellationToken);
    }

    public Task<OsseaSnapshot> RevertSnapshotAsync(string snapshotId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(snapshotId);
        var call = new OsseaRequest("revertSnapshot", readOnly: false).Add("id", snapshotId);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaSnapshot>(r, "snapshot"), cancellationToken);
    }

    public Task DeleteSnapshotAsync(string snapshotId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(snapshotId);
        var call = new OsseaRequest("deleteSnapshot", readOnly: false).Add("id", snapshotId);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadSuccess(r)
            ? true
            : throw new JsonException("deleteSnapshot's job result is not success=true"), cancellationToken);
    }

    public Task<IReadOnlyList<OsseaSnapshot>> ListSnapshotsAsync(string? id, string? volumeId, string? name, CancellationToken cancellationToken)
        => ListAsync<OsseaSnapshot>("listSnapshots", "snapshot", listAll: true,
            r => r.Add("id", id).Add("volumeid", volumeId).Add("name", name), cancellationToken);

    public Task<OsseaVirtualMachine> DeployVirtualMachineAsync(
        OsseaDeployVirtualMachine request, OsseaOperation operation, Func<string, CancellationToken, Task>? onVmId, CancellationToken cancellationToken)
    {
        var call = BuildDeploy(request);
        return RecoverAsync(
            call.Command, request.Name,
            ct => _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVirtualMachine>(r, "virtualmachine"), onVmId, ct),
            async ct =>
            {
                var found = await ListVirtualMachinesAsync(null, request.Name, ct).ConfigureAwait(false);
                var vm = Single(call.Command, request.Name,
                    found.Where(v => v.Name == request.Name && v.State is not (OsseaVmStates.Destroyed or OsseaVmStates.Expunging)));
                if (vm is null)
                {
                    return null;
                }

                // The deploy job may still be running: wait for the VM to leave Starting (and, when
                // it was to be started, to be Running or failed).
                var settled = await _jobs.WaitForStateAsync(call.Command, vm.Id, c => GetVirtualMachineAsync(vm.Id, c),
                    v => v is null || (!OsseaVmStates.IsTransitional(v.State)
                        && (!request.StartVm || v.State is OsseaVmStates.Running or OsseaVmStates.Error or OsseaVmStates.Destroyed or OsseaVmStates.Expunging)), ct).ConfigureAwait(false);
                return settled is null || settled.State is OsseaVmStates.Error or OsseaVmStates.Destroyed or OsseaVmStates.Expunging
                    ? throw new OsseaApiException(call.Command, OsseaErrorCodes.InternalError, null,
                        $"VM {vm.Id} ended in state {settled?.State ?? "removed"}", isTransient: false)
                    : settled;
            },
            cancellationToken);
    }

    public Task<OsseaVirtualMachine> StartVirtualMachineAsync(string virtualMachineId, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(virtualMachineId);
        var call = new OsseaRequest("startVirtualMachine", readOnly: false).Add("id", virtualMachineId);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVirtualMachine>(r, "virtualmachine"), cancellationToken);
    }

    public Task<OsseaVirtualMachine> StopVirtualMachineAsync(string virtualMachineId, bool forced, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(virtualMachineId);
        var call = new OsseaRequest("stopVirtualMachine", readOnly: false).Add("id", virtualMachineId).Add("forced", forced);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVirtualMachine>(r, "virtualmachine"), cancellationToken);
    }

    public Task<OsseaVirtualMachine> DestroyVirtualMachineAsync(string virtualMachineId, bool expunge, OsseaOperation operation, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(virtualMachineId);
        var call = new OsseaRequest("destroyVirtualMachine", readOnly: false).Add("id", virtualMachineId).Add("expunge", expunge);
        return _jobs.RunAsync(call, operation, r => OsseaResponseReader.ReadObject<OsseaVirtualMachine>(r, "virtualmachine"), cancellationToken);
    }

    public Task<IReadOnlyList<OsseaVirtualMachine>> ListVirtualMachinesAsync(string? id, string? name, CancellationToken cancellationToken)
        => ListAsync<OsseaVirtualMachine>("listVirtualMachines", "virtualmachine", listAll: true,
            r => r.Add("id", id).Add("name", name), cancellationToken);

    public async Task<OsseaVirtualMachine?> GetVirtualMachineAsync(string virtualMachineId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(virtualMachineId);
        try
        {
            var vms = await ListVirtualMachinesAsync(virtualMachineId, null, cancellationToken).ConfigureAwait(false);
            return vms.FirstOrDefault(v => string.Equals(v.Id, virtualMachineId, StringComparison.OrdinalIgnoreCase));
        }
        catch (OsseaApiException ex) when (ex.Code == OsseaErrorCodes.ParamError)
        {
            return null;
        }
    }

    public Task<IReadOnlyList<OsseaNetwork>> ListNetworksAsync(string? zoneId, string? id, CancellationToken cancellationToken)
        => ListAsync<OsseaNetwork>("listNetworks", "network", listAll: true, r => r.Add("zoneid", zoneId).Add("id", id), cancellationToken);

    public Task<IReadOnlyList<OsseaServiceOffering>> ListServiceOfferingsAsync(string? id, CancellationToken cancellationToken)
        => ListAsync<OsseaServiceOffering>("listServiceOfferings", "serviceoffering", listAll: false, r => r.Add("id", id), cancellationToken);

    public Task<IReadOnlyList<OsseaDiskOffering>> ListDiskOfferingsAsync(string? id, CancellationToken cancellationToken)
        => ListAsync<OsseaDiskOffering>("listDiskOfferings", "diskoffering", listAll: false, r => r.Add("id", id), cancellationToken);

    public Task<OsseaAsyncJob> QueryAsyncJobAsync(string jobId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(jobId);
        return _jobs.QueryAsync(jobId, cancellationToken);
    }

    internal static OsseaRequest BuildDeploy(OsseaDeployVirtualMachine request)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.Name);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ServiceOfferingId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.TemplateId);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.ZoneId);
        if (request.NetworkIds.Count > 0 && request.Nics.Count > 0)
        {
            throw new ArgumentException("CloudStack refuses networkids together with iptonetworklist; use one.", nameof(request));
        }

        if (request.MacAddress is not null && request.Nics.Count > 0)
        {
            throw new ArgumentException("Give the MAC per NIC (Nics[i].MacAddress) when Nics is used.", nameof(request));
        }

        if (request.RootDiskSizeGb is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.RootDiskSizeGb, "A root disk is at least 1 GB.");
        }

        var call = new OsseaRequest("deployVirtualMachine", readOnly: false)
            .Add("name", request.Name)
            .Add("displayname", request.DisplayName)
            .Add("serviceofferingid", request.ServiceOfferingId)
            .Add("templateid", request.TemplateId)
            .Add("zoneid", request.ZoneId)
            .Add("diskofferingid", request.DiskOfferingId)
            .Add("rootdisksize", request.RootDiskSizeGb)
            .Add("startvm", request.StartVm)
            .Add("hypervisor", request.Hypervisor)
            .Add("macaddress", request.MacAddress);
        if (request.NetworkIds.Count > 0)
        {
            call.Add("networkids", string.Join(',', request.NetworkIds));
        }

        for (var i = 0; i < request.Nics.Count; i++)
        {
            var nic = request.Nics[i];
            ArgumentException.ThrowIfNullOrWhiteSpace(nic.NetworkId);
            call.Add($"iptonetworklist[{i}].networkid", nic.NetworkId)
                .Add($"iptonetworklist[{i}].ip", nic.IpAddress)
                .Add($"iptonetworklist[{i}].mac", nic.MacAddress);
        }

        foreach (var (key, value) in request.Details)
        {
            ArgumentException.ThrowIfNullOrWhiteSpace(key);
            call.Add($"details[0].{key}", value);
        }

        return call;
    }

    /// <summary>
    /// Runs a state-changing call. When its answer is lost (<see cref="OsseaApiException.OutcomeUnknown"/>),
    /// <paramref name="alreadyDone"/> looks at OSSEA: a result means the call did happen and is used
    /// as is; null means it did not (yet), and only then is the call sent again (bounded by MaxAttempts).
    /// If that repeat is refused (e.g. 431 "already attached" because the lost request's job ran in
    /// the meantime), OSSEA is looked at once more before the refusal is passed on.
    /// </summary>
    private async Task<T> RecoverAsync<T>(
        string command, string subject, Func<CancellationToken, Task<T>> run, Func<CancellationToken, Task<T?>> alreadyDone,
        CancellationToken cancellationToken)
        where T : class
    {
        var resent = false;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await run(cancellationToken).ConfigureAwait(false);
            }
            catch (OsseaApiException ex) when (ex.OutcomeUnknown && attempt < Options.MaxAttempts)
            {
                OsseaLog.CreateOutcomeUnknown(_logger, command, subject);
            }
            catch (OsseaApiException ex) when (resent && !ex.OutcomeUnknown && !ex.IsTransient)
            {
                if (await alreadyDone(cancellationToken).ConfigureAwait(false) is { } done)
                {
                    OsseaLog.CreateAdopted(_logger, command, subject);
                    return done;
                }

                throw;
            }

            var existing = await alreadyDone(cancellationToken).ConfigureAwait(false);
            if (existing is not null)
            {
                OsseaLog.CreateAdopted(_logger, command, subject);
                return existing;
            }

            resent = true;
        }
    }

    /// <summary>The volume once it is no longer Attaching/Detaching (a lost attach may still be running).</summary>
    private Task<OsseaVolume?> SettledVolumeAsync(string command, string volumeId, CancellationToken cancellationToken)
        => _jobs.WaitForStateAsync(command, volumeId, ct => GetVolumeAsync(volumeId, ct),
            v => v is null || v.State is not (OsseaVolumeStates.Attaching or OsseaVolumeStates.Detaching or OsseaVolumeStates.Creating), cancellationToken);

    private static T? Single<T>(string command, string name, IEnumerable<T> candidates)
        where T : class
    {
        var list = candidates.Take(2).ToList();
        return list.Count switch
        {
            0 => null,
            1 => list[0],
            _ => throw new OsseaApiException(command, OsseaErrorCodes.ParamError, null,
                $"several entities are named '{name}'; cannot tell which one this request created", isTransient: false),
        };
    }

    private async Task<IReadOnlyList<T>> ListAsync<T>(
        string command, string itemKey, bool listAll, Action<OsseaRequest> filters, CancellationToken cancellationToken)
    {
        var all = new List<T>();
        var pageSize = Options.PageSize;
        for (var page = 1; page <= MaxPages; page++)
        {
            var request = new OsseaRequest(command, readOnly: true)
                .Add("listall", listAll ? true : null)
                .Add("page", page)
                .Add("pagesize", pageSize);
            filters(request);
            var (items, count) = await _connection.CallAsync(
                request, e => (OsseaResponseReader.ReadList<T>(e, itemKey), OsseaResponseReader.ReadCount(e)), cancellationToken)
                .ConfigureAwait(false);
            all.AddRange(items);
            if (items.Count < pageSize || (count is { } total && all.Count >= total))
            {
                return all;
            }
        }

        throw new OsseaApiException(command, OsseaErrorCodes.NoResponse, null,
            $"more than {MaxPages} pages of {pageSize}; refusing to read further", isTransient: false);
    }
}
