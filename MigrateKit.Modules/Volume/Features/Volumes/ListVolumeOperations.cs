using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class ListVolumeOperations
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<ListVolumeOperationsQuery, IReadOnlyList<VolumeOperationView>>
    {
        public Task<IReadOnlyList<VolumeOperationView>> Handle(ListVolumeOperationsQuery request, CancellationToken cancellationToken) =>
            store.ListOperationsAsync(request.VolumeId, Math.Clamp(request.Limit, 1, 1000), cancellationToken);
    }
}
