using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Core.Mediation;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;
using MigrateKit.Modules.Failover.Features;
using MigrateKit.Modules.Failover.Run;
using MigrateKit.Modules.Failover.Workers;

namespace MigrateKit.Modules.Failover;

/// <summary>The Failover module: test and live failovers of replicated VMs onto OSSEA, with rollback.</summary>
public static class FailoverModule
{
    public static IServiceCollection AddFailoverModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(_ => FailoverOptions.From(configuration));
        services.TryAddSingleton<FailoverStore>();
        services.TryAddSingleton<FailoverSignal>();
        services.TryAddSingleton<VirtioInjector>();
        services.TryAddTransient<FailoverPlanner>();
        services.TryAddTransient<FailoverUndo>();
        services.TryAddTransient<StartFailover.Starter>();
        if (configuration.GetValue("Failover:Worker", true))
        {
            services.AddHostedService<FailoverWorker>();
        }
        services.AddModuleHandlers(typeof(FailoverModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapFailoverEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/failovers").WithTags("Failovers");
        group.MapPost("/test", async (StartTestFailoverCommand command, IMediator m, CancellationToken ct) => Accepted(await m.Send(command, ct)))
            .WithName("StartTestFailover");
        group.MapPost("/live", async (StartLiveFailoverCommand command, IMediator m, CancellationToken ct) => Accepted(await m.Send(command, ct)))
            .WithName("StartLiveFailover");
        group.MapGet("/", async (string? status, IMediator m, CancellationToken ct) => TypedResults.Ok(await m.Send(new ListFailoversQuery(status), ct)))
            .WithName("ListFailovers");
        group.MapGet("/{id:guid}", Get).WithName("GetFailover");
        return api;
    }

    private static Accepted<FailoverView> Accepted(FailoverView view) => TypedResults.Accepted($"/api/v1/failovers/{view.Id}", view);

    private static async Task<Results<Ok<FailoverView>, NotFound>> Get(Guid id, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetFailoverQuery(id), ct) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();
}
