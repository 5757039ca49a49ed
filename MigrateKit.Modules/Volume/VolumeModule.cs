using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Core.Mediation;
using Microsoft.Extensions.Hosting;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Devices;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Features.Reconcile;
using MigrateKit.Modules.Volume.Features.VirtualMachines;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume;

/// <summary>
/// The Volume module: the single source of truth for OSSEA volumes, their Linux devices and NBD
/// exports. Only this module calls the OSSEA volume/VM API (DESIGN rule 1).
/// </summary>
public static class VolumeModule
{
    public static IServiceCollection AddVolumeModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(_ => VolumeOptions.From(configuration));
        services.TryAddSingleton<OsseaConfigStore>();
        services.TryAddSingleton<VolumeStore>();
        services.AddOsseaClient(o => configuration.GetSection("Ossea").Bind(o));
        services.TryAddSingleton<IOsseaJobRecorder, DbOsseaJobRecorder>();
        services.TryAddSingleton<VirtualMachineStore>();
        services.TryAddSingleton<VirtualMachineStateChanges>();
        services.TryAddSingleton<OsseaClients>();
        services.TryAddSingleton<OperationRecorder>();
        services.TryAddSingleton<VolumeLocks>();
        services.TryAddSingleton<DeviceCorrelator>();
        services.TryAddSingleton<TunnelServiceRegistry>();
        services.TryAddSingleton<NbdExportService>();
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<NbdExportService>());
        if (!string.Equals(configuration["Volume:Reconciler"], "false", StringComparison.OrdinalIgnoreCase))
        {
            services.AddHostedService<ReconcileVolumes.Worker>();
        }
        services.AddModuleHandlers(typeof(VolumeModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapVolumeEndpoints(this IEndpointRouteBuilder api)
    {
        VolumeEndpoints.Map(api);
        return api;
    }
}
