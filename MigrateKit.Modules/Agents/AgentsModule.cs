using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Agents.Data;
using MigrateKit.Modules.Agents.Tunnel;
using MigrateKit.Modules.Core.Mediation;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Agents;

/// <summary>
/// The Agents module: enrollment of VMA agents, the tunnel listener they dial into, revocation,
/// and <see cref="IAgentChannel"/> for other modules to reach an agent's services.
/// </summary>
public static class AgentsModule
{
    public static IServiceCollection AddAgentsModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(_ => AgentsOptions.From(configuration));
        services.TryAddSingleton<AgentStore>();
        // Shared with other modules: the Volume module registers the "nbd" service agents write into.
        services.TryAddSingleton<TunnelServiceRegistry>();
        services.TryAddSingleton<DbAgentAuthorizer>();
        services.TryAddSingleton<DbEnrollmentAuthority>();
        services.TryAddSingleton<TunnelHost>();
        services.TryAddSingleton<IAgentChannel>(sp => sp.GetRequiredService<TunnelHost>());
        services.AddSingleton<IHostedService>(sp => sp.GetRequiredService<TunnelHost>());
        services.AddModuleHandlers(typeof(AgentsModule).Assembly);
        return services;
    }

    public static IEndpointRouteBuilder MapAgentsEndpoints(this IEndpointRouteBuilder api)
    {
        var agents = api.MapGroup("/agents").WithTags("Agents");
        agents.MapGet("/", ListAgents).WithName("ListAgents");
        agents.MapPost("/{name}/revoke", RevokeAgent).WithName("RevokeAgent");
        return api;
    }

    private static async Task<Ok<IReadOnlyList<AgentView>>> ListAgents(IMediator mediator, CancellationToken ct) =>
        TypedResults.Ok(await mediator.Send(new ListAgentsQuery(), ct));

    private static async Task<Ok<AgentView>> RevokeAgent(string name, IMediator mediator, CancellationToken ct) =>
        TypedResults.Ok(await mediator.Send(new RevokeAgentCommand(name), ct));

    /// <summary>The SHA-256 fingerprint of the OMA's tunnel certificate (created on first use), for `fingerprint`.</summary>
    public static string ServerFingerprint(IConfiguration configuration, TimeProvider time)
    {
        using var ca = TunnelHost.LoadAuthority(AgentsOptions.From(configuration), time);
        return ca.ServerFingerprint.ToString();
    }
}
