using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class GetVolume
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<GetVolumeQuery, VolumeView?>
    {
        public async Task<VolumeView?> Handle(GetVolumeQuery request, CancellationToken cancellationToken) =>
            await store.GetVolumeAsync(request.VolumeId, cancellationToken) is { } row
                ? await VolumeViews.BuildAsync(store, row, cancellationToken)
                : null;
    }
}
