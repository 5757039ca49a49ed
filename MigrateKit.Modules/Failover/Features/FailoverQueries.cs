using MediatR;
using MigrateKit.Modules.Failover.Contracts;
using MigrateKit.Modules.Failover.Data;

namespace MigrateKit.Modules.Failover.Features;

internal static class ListFailovers
{
    internal sealed class Handler(FailoverStore store) : IRequestHandler<ListFailoversQuery, IReadOnlyList<FailoverView>>
    {
        public Task<IReadOnlyList<FailoverView>> Handle(ListFailoversQuery request, CancellationToken cancellationToken) =>
            store.ListViewsAsync(request.Status, cancellationToken);
    }
}

internal static class GetFailover
{
    internal sealed class Handler(FailoverStore store) : IRequestHandler<GetFailoverQuery, FailoverView?>
    {
        public Task<FailoverView?> Handle(GetFailoverQuery request, CancellationToken cancellationToken) =>
            store.GetViewAsync(request.Id, cancellationToken);
    }
}
