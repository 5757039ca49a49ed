using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Agents.Data;
using MigrateKit.Modules.Agents.Tunnel;
using MigrateKit.Modules.Core.Errors;

namespace MigrateKit.Modules.Agents.Features;

internal static class AgentViewFactory
{
    public static AgentView ToView(AgentRow row, TunnelHost tunnel)
    {
        var live = tunnel.Connected.FirstOrDefault(a => a.AgentName == row.Name);
        return new AgentView(row.Id, row.Name, row.CertFingerprint, row.CertNotAfter, row.EnrolledAt, row.RevokedAt, row.LastSeenAt,
            row.LastRemoteAddress, live is not null, live?.ConnectedSince, live?.Connections ?? 0, live?.ActiveStreams ?? 0);
    }
}

internal static class ListAgents
{
    internal sealed class Handler(AgentStore store, TunnelHost tunnel) : IRequestHandler<ListAgentsQuery, IReadOnlyList<AgentView>>
    {
        public async Task<IReadOnlyList<AgentView>> Handle(ListAgentsQuery request, CancellationToken cancellationToken) =>
            (await store.ListAsync(cancellationToken)).Select(r => AgentViewFactory.ToView(r, tunnel)).ToList();
    }
}

internal static class RevokeAgent
{
    internal sealed class Handler(AgentStore store, TunnelHost tunnel, TimeProvider time) : IRequestHandler<RevokeAgentCommand, AgentView>
    {
        public async Task<AgentView> Handle(RevokeAgentCommand request, CancellationToken cancellationToken)
        {
            if (await store.FindByNameAsync(request.Name, cancellationToken) is null)
            {
                throw new NotFoundException($"No agent named '{request.Name}'.");
            }
            await store.RevokeAsync(request.Name, time.GetUtcNow().UtcDateTime, cancellationToken);
            // The database says no from now on; live connections are cut at once, not at their next handshake.
            tunnel.Disconnect(request.Name, "agent revoked");
            return AgentViewFactory.ToView((await store.FindByNameAsync(request.Name, cancellationToken))!, tunnel);
        }
    }
}

internal static class GetAgent
{
    internal sealed class Handler(AgentStore store, TunnelHost tunnel) : IRequestHandler<GetAgentQuery, AgentView?>
    {
        public async Task<AgentView?> Handle(GetAgentQuery request, CancellationToken cancellationToken) =>
            await store.FindByNameAsync(request.Name, cancellationToken) is { } row ? AgentViewFactory.ToView(row, tunnel) : null;
    }
}
