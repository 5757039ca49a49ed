using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Modules.Core.Api;

internal static class JobEndpoints
{
    public static void Map(IEndpointRouteBuilder api)
    {
        var group = api.MapGroup("/jobs").WithTags("Jobs");
        group.MapGet("/", ListJobs).WithName("ListJobs");
        group.MapGet("/{id:guid}", GetJob).WithName("GetJob");
    }

    private static async Task<Ok<JobPage>> ListJobs(
        IMediator mediator, CancellationToken ct, string? status = null, string? type = null, Guid? correlationId = null,
        int page = 1, int pageSize = 50) =>
        TypedResults.Ok(await mediator.Send(new ListJobsQuery(status, type, correlationId, page, pageSize), ct));

    private static async Task<Results<Ok<JobDetails>, NotFound>> GetJob(Guid id, IMediator mediator, CancellationToken ct) =>
        await mediator.Send(new GetJobQuery(id), ct) is { } job ? TypedResults.Ok(job) : TypedResults.NotFound();
}
