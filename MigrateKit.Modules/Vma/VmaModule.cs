using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Api;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma;

/// <summary>The VMA agent's services: vCenter client, disk readers, streaming, the tunnel, the agent API.</summary>
public static class VmaModule
{
    /// <summary>
    /// Binds section <c>Vma</c> (and <c>VSphere</c> for the vCenter client) and registers the
    /// tunnel to the OMA (hosted), the sync manager (hosted), the disk source factory
    /// (<c>Vma:DiskSource</c> = vddk | mapped) and the <c>vma-api</c> tunnel service.
    /// </summary>
    public static IServiceCollection AddVmaModule(this IServiceCollection services, IConfiguration configuration)
    {
        var options = new VmaOptions();
        configuration.GetSection(VmaOptions.Section).Bind(options);
        options.Streaming.Validate();
        if (options.DiskSource is not ("vddk" or "mapped"))
        {
            throw new ArgumentException($"Vma:DiskSource must be 'vddk' or 'mapped', not '{options.DiskSource}'");
        }
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(options);
        VSphereRegistration.AddVSphereClient(services, configuration);
        services.AddSingleton<VCenter>();
        if (options.DiskSource == "mapped")
        {
            services.AddSingleton<IDiskSourceFactory, MappedDiskSourceFactory>();
        }
        else
        {
            services.AddSingleton<IDiskSourceFactory, VddkDiskSourceFactory>();
        }
        services.AddSingleton<VmaApiTunnelBridge>();
        services.AddSingleton(sp =>
        {
            var bridge = sp.GetRequiredService<VmaApiTunnelBridge>();
            return new TunnelServiceRegistry().Register(VmaApiTunnelBridge.Service, bridge.HandleAsync);
        });
        services.AddSingleton<VmaTunnel>();
        services.AddSingleton<IExportConnector>(sp => sp.GetRequiredService<VmaTunnel>());
        services.AddHostedService(sp => sp.GetRequiredService<VmaTunnel>());
        services.AddSingleton<SyncManager>();
        services.AddHostedService(sp => sp.GetRequiredService<SyncManager>());
        return services;
    }

    /// <summary>Maps the VMA API under /api/v1.</summary>
    public static IEndpointRouteBuilder MapVmaEndpoints(this IEndpointRouteBuilder app)
    {
        VmaEndpoints.MapVmaApi(app);
        return app;
    }
}
