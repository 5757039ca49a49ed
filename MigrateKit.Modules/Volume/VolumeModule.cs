using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Core.Mediation;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume;

/// <summary>
/// The Volume module: the single source of truth for OSSEA volumes, their Linux devices and NBD
/// exports. Only this module calls the OSSEA volume/VM API (DESIGN rule 1).
/// </summary>
public static class VolumeModule
{
    public static IServiceCollection AddVolumeModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton<OsseaConfigStore>();
        services.AddModuleHandlers(typeof(VolumeModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapVolumeEndpoints(this IEndpointRouteBuilder api)
    {
        VolumeEndpoints.Map(api);
        return api;
    }
}
