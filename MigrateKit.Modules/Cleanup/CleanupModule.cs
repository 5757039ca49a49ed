using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Modules.Cleanup;

/// <summary>The Cleanup module's registration entry point and REST endpoints.</summary>
public static class CleanupModule
{
    public static IServiceCollection AddCleanupModule(this IServiceCollection services, IConfiguration configuration)
    {
        return services;
    }

    public static IEndpointRouteBuilder MapCleanupEndpoints(this IEndpointRouteBuilder api)
    {
        return api;
    }
}
