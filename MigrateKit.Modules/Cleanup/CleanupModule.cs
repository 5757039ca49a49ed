using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Cleanup.Contracts;
using MigrateKit.Modules.Cleanup.Workers;
using MigrateKit.Modules.Core.Mediation;

namespace MigrateKit.Modules.Cleanup;

/// <summary>The Cleanup module: the API and worker that have the Failover module undo test failovers (and failed rollbacks), each in a job.</summary>
public static class CleanupModule
{
    public static IServiceCollection AddCleanupModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(_ => CleanupOptions.From(configuration));
        services.TryAddSingleton<CleanupSignal>();
        if (configuration.GetValue("Cleanup:Worker", true))
        {
            services.AddHostedService<CleanupWorker>();
        }
        services.AddModuleHandlers(typeof(CleanupModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapCleanupEndpoints(this IEndpointRouteBuilder api)
    {
        api.MapGroup("/failovers").WithTags("Failovers")
            .MapPost("/{id:guid}/cleanup", async (Guid id, IMediator m, CancellationToken ct) =>
            {
                var view = await m.Send(new CleanupFailoverCommand(id), ct);
                return TypedResults.Accepted($"/api/v1/failovers/{id}", view);
            })
            .WithName("CleanupFailover");
        return api;
    }
}
