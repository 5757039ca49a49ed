using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class GetVolumeByRowId
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<GetVolumeByRowIdQuery, VolumeView?>
    {
        public async Task<VolumeView?> Handle(GetVolumeByRowIdQuery request, CancellationToken cancellationToken) =>
            await store.GetVolumeByRowIdAsync(request.Id, cancellationToken) is { } row
                ? await VolumeViews.BuildAsync(store, row, cancellationToken)
                : null;
    }
}
