using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Replication.Data;

namespace MigrateKit.Modules.Replication.Features;

internal sealed class ReplicationViews(ReplicationStore store, IMediator mediator)
{
    public async Task<ReplicationJobView?> GetAsync(Guid id, CancellationToken ct)
    {
        if (await store.GetAsync(id, ct) is not { } found)
        {
            return null;
        }
        var names = await AgentNamesAsync(ct);
        return found.Job.ToView(found.Job.VmaAgentId is { } a ? names.GetValueOrDefault(a) : null, found.Disks);
    }

    public async Task<IReadOnlyList<ReplicationJobView>> ListAsync(CancellationToken ct)
    {
        var names = await AgentNamesAsync(ct);
        return (await store.ListAsync(ct))
            .Select(f => f.Job.ToView(f.Job.VmaAgentId is { } a ? names.GetValueOrDefault(a) : null, f.Disks))
            .ToList();
    }

    private async Task<Dictionary<int, string>> AgentNamesAsync(CancellationToken ct) =>
        (await mediator.Send(new ListAgentsQuery(), ct)).ToDictionary(a => a.Id, a => a.Name);
}

internal static class ListReplications
{
    internal sealed class Handler(ReplicationViews views) : IRequestHandler<ListReplicationsQuery, IReadOnlyList<ReplicationJobView>>
    {
        public Task<IReadOnlyList<ReplicationJobView>> Handle(ListReplicationsQuery request, CancellationToken cancellationToken) =>
            views.ListAsync(cancellationToken);
    }
}

internal static class GetReplication
{
    internal sealed class Handler(ReplicationViews views) : IRequestHandler<GetReplicationQuery, ReplicationJobView?>
    {
        public Task<ReplicationJobView?> Handle(GetReplicationQuery request, CancellationToken cancellationToken) =>
            views.GetAsync(request.Id, cancellationToken);
    }
}
