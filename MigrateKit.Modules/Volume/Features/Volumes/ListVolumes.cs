using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class ListVolumes
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<ListVolumesQuery, IReadOnlyList<VolumeView>>
    {
        public async Task<IReadOnlyList<VolumeView>> Handle(ListVolumesQuery request, CancellationToken cancellationToken)
        {
            var rows = await store.ListVolumesAsync(cancellationToken);
            var mappings = (await store.ListMappingsAsync(cancellationToken)).ToDictionary(m => m.VolumeId);
            var exports = (await store.ListExportsAsync(cancellationToken)).ToDictionary(e => e.VolumeId);
            return rows.Select(r => new VolumeView(r.Id, r.VolumeId, r.VolumeName, r.Size, r.Status, r.OsseaConfigId, r.VmId,
                mappings.GetValueOrDefault(r.VolumeId)?.ToView(), exports.GetValueOrDefault(r.VolumeId)?.ToView(), r.CreatedAt, r.UpdatedAt)).ToList();
        }
    }
}
