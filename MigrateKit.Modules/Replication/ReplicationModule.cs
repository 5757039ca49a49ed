using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Modules.Replication;

/// <summary>The Replication module's registration entry point and REST endpoints.</summary>
public static class ReplicationModule
{
    public static IServiceCollection AddReplicationModule(this IServiceCollection services, IConfiguration configuration)
    {
        return services;
    }

    public static IEndpointRouteBuilder MapReplicationEndpoints(this IEndpointRouteBuilder api)
    {
        return api;
    }
}
