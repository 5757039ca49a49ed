using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Modules.Failover;

/// <summary>The Failover module's registration entry point and REST endpoints.</summary>
public static class FailoverModule
{
    public static IServiceCollection AddFailoverModule(this IServiceCollection services, IConfiguration configuration)
    {
        return services;
    }

    public static IEndpointRouteBuilder MapFailoverEndpoints(this IEndpointRouteBuilder api)
    {
        return api;
    }
}
