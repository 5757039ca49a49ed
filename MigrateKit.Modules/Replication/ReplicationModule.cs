using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Core.Mediation;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;
using MigrateKit.Modules.Replication.Features;
using MigrateKit.Modules.Replication.Sync;

namespace MigrateKit.Modules.Replication;

/// <summary>The Replication module: replication jobs, their disks, CBT change ids and the VMA orchestration.</summary>
public static class ReplicationModule
{
    public static IServiceCollection AddReplicationModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton<ReplicationStore>();
        services.TryAddTransient<ReplicationViews>();
        services.TryAddSingleton(ReplicationOptions.From(configuration));
        services.TryAddSingleton<ReplicationRunner>();
        services.TryAddTransient<LeftoverSnapshots>();
        if (configuration.GetValue("Replication:Worker", true))
        {
            services.AddHostedService<ReplicationWorker>();
        }
        services.AddModuleHandlers(typeof(ReplicationModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapReplicationEndpoints(this IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/replications").WithTags("Replications");
        group.MapPost("/", Start).WithName("StartReplication");
        group.MapGet("/", async (IMediator m, CancellationToken ct) => TypedResults.Ok(await m.Send(new ListReplicationsQuery(), ct))).WithName("ListReplications");
        group.MapGet("/{id:guid}", Get).WithName("GetReplication");
        group.MapPost("/{id:guid}/sync", async (Guid id, IMediator m, CancellationToken ct) =>
            TypedResults.Accepted($"/api/v1/replications/{id}", await m.Send(new RequestSyncCommand(id), ct))).WithName("RequestReplicationSync");
        group.MapPost("/{id:guid}/cancel", async (Guid id, IMediator m, CancellationToken ct) =>
            TypedResults.Ok(await m.Send(new CancelReplicationCommand(id), ct))).WithName("CancelReplication");
        group.MapDelete("/{id:guid}", async (Guid id, IMediator m, CancellationToken ct) =>
        {
            await m.Send(new DeleteReplicationCommand(id), ct);
            return TypedResults.NoContent();
        }).WithName("DeleteReplication");
        return api;
    }

    private static async Task<Accepted<ReplicationJobView>> Start(StartReplicationCommand command, IMediator mediator, CancellationToken ct)
    {
        var job = await mediator.Send(command, ct);
        return TypedResults.Accepted($"/api/v1/replications/{job.Id}", job);
    }

    private static async Task<Results<Ok<ReplicationJobView>, NotFound>> Get(Guid id, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetReplicationQuery(id), ct) is { } job ? TypedResults.Ok(job) : TypedResults.NotFound();
}
