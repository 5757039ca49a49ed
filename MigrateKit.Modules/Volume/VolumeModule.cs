using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Modules.Volume;

/// <summary>The Volume module's registration entry point and REST endpoints.</summary>
public static class VolumeModule
{
    public static IServiceCollection AddVolumeModule(this IServiceCollection services, IConfiguration configuration)
    {
        return services;
    }

    public static IEndpointRouteBuilder MapVolumeEndpoints(this IEndpointRouteBuilder api)
    {
        return api;
    }
}
