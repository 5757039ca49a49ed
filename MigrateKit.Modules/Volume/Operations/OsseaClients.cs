using System.Collections.Concurrent;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Core.Security;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Operations;

/// <summary>One OSSEA client per config (rebuilt when the config changes), keys decrypted only here.</summary>
internal sealed class OsseaClients(OsseaConfigStore configs, SecretProtector secrets, OsseaClientFactory factory, IJobTracker jobs)
{
    private readonly ConcurrentDictionary<int, (DateTime Version, IOsseaClient Client, OsseaConfig Config)> _clients = new();

    public async Task<(IOsseaClient Client, OsseaConfig Config)> GetAsync(int osseaConfigId, CancellationToken ct)
    {
        var row = await configs.GetAsync(osseaConfigId, ct) ?? throw new NotFoundException($"No OSSEA config {osseaConfigId}.");
        if (_clients.TryGetValue(osseaConfigId, out var cached) && cached.Version == row.UpdatedAt)
        {
            return (cached.Client, cached.Config);
        }
        var config = new OsseaConfig
        {
            Name = row.Name,
            ApiUrl = row.ApiUrl,
            ApiKey = secrets.Unprotect(row.ApiKey),
            SecretKey = secrets.Unprotect(row.SecretKey),
            Zone = row.Zone,
            Domain = row.Domain,
            TemplateId = row.TemplateId,
            NetworkId = row.NetworkId,
            ServiceOfferingId = row.ServiceOfferingId,
            DiskOfferingId = row.DiskOfferingId,
            OmaVmId = row.OmaVmId,
        };
        var client = factory.Create(config);
        _clients[osseaConfigId] = (row.UpdatedAt, client, config);
        return (client, config);
    }

    /// <summary>A recorded volume and the client of its OSSEA config; 404 when there is no such volume.</summary>
    public async Task<(VolumeRow Volume, IOsseaClient Client, OsseaConfig Config)> ForVolumeAsync(VolumeStore store, string volumeId, CancellationToken ct)
    {
        var volume = await store.GetVolumeAsync(volumeId, ct) ?? throw new NotFoundException($"No volume {volumeId}.");
        var (client, config) = await GetAsync(volume.OsseaConfigId, ct);
        return (volume, client, config);
    }

    /// <summary>The OSSEA operation record for the current job, so cloudstack_job_tracking joins the job log.</summary>
    public OsseaOperation Operation(string type) => new(type, jobs.Current?.CorrelationId, jobs.Current?.JobId);
}
