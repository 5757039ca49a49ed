using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class GetVolumeDevice
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<GetVolumeDeviceQuery, DeviceMappingView?>
    {
        public async Task<DeviceMappingView?> Handle(GetVolumeDeviceQuery request, CancellationToken cancellationToken) =>
            (await store.GetMappingAsync(request.VolumeId, cancellationToken))?.ToView();
    }
}
