using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Volume;

internal static class VolumeEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var configs = api.MapGroup("/ossea-configs").WithTags("OSSEA configs");
        configs.MapPost("/", CreateConfig).WithName("CreateOsseaConfig");
        configs.MapGet("/", ListConfigs).WithName("ListOsseaConfigs");
        configs.MapGet("/{id:int}", GetConfig).WithName("GetOsseaConfig");
        configs.MapDelete("/{id:int}", DeleteConfig).WithName("DeleteOsseaConfig");
        // What failover network mappings and VM options are chosen from, and whether the config still works.
        configs.MapGet("/{id:int}/networks", async (int id, IMediator m, CancellationToken ct) =>
            TypedResults.Ok(await m.Send(new ListOsseaNetworksQuery(id), ct))).WithName("ListOsseaNetworks");
        configs.MapGet("/{id:int}/service-offerings", async (int id, IMediator m, CancellationToken ct) =>
            TypedResults.Ok(await m.Send(new ListServiceOfferingsQuery(id), ct))).WithName("ListOsseaServiceOfferings");
        configs.MapGet("/{id:int}/check", async (int id, IMediator m, CancellationToken ct) =>
            TypedResults.Ok(await m.Send(new CheckOsseaConfigQuery(id), ct))).WithName("CheckOsseaConfig");
        configs.MapGet("/{id:int}/vms/{vmId}", GetVirtualMachine).WithName("GetOsseaVirtualMachine");

        var volumes = api.MapGroup("/volumes").WithTags("Volumes");
        volumes.MapGet("/", async (IMediator m, CancellationToken ct) => TypedResults.Ok(await m.Send(new ListVolumesQuery(), ct))).WithName("ListVolumes");
        volumes.MapGet("/{volumeId}", GetVolume).WithName("GetVolume");
        volumes.MapPost("/reconcile", async (IMediator m, CancellationToken ct) => TypedResults.Ok(await m.Send(new ReconcileVolumesCommand(), ct)))
            .WithName("ReconcileVolumes");
        api.MapGet("/volume-operations", async (IMediator m, CancellationToken ct, string? volumeId = null, int limit = 100) =>
            TypedResults.Ok(await m.Send(new ListVolumeOperationsQuery(volumeId, limit), ct))).WithTags("Volumes").WithName("ListVolumeOperations");
    }

    private static async Task<Results<Ok<VolumeView>, NotFound>> GetVolume(string volumeId, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetVolumeQuery(volumeId), ct) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Results<Ok<VirtualMachineView>, NotFound>> GetVirtualMachine(int id, string vmId, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetVirtualMachineQuery(id, vmId), ct) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<Created<OsseaConfigView>> CreateConfig(CreateOsseaConfigCommand command, IMediator mediator, CancellationToken ct)
    {
        var created = await mediator.Send(command, ct);
        return TypedResults.Created($"/api/v1/ossea-configs/{created.Id}", created);
    }

    private static async Task<Ok<IReadOnlyList<OsseaConfigView>>> ListConfigs(IMediator mediator, CancellationToken ct) =>
        TypedResults.Ok(await mediator.Send(new ListOsseaConfigsQuery(), ct));

    private static async Task<Results<Ok<OsseaConfigView>, NotFound>> GetConfig(int id, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetOsseaConfigQuery(id), ct) is { } view ? TypedResults.Ok(view) : TypedResults.NotFound();

    private static async Task<NoContent> DeleteConfig(int id, IMediator mediator, CancellationToken ct)
    {
        await mediator.Send(new DeleteOsseaConfigCommand(id), ct);
        return TypedResults.NoContent();
    }
}
