using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class VolumeViews
{
    public static async Task<VolumeView> BuildAsync(VolumeStore store, VolumeRow row, CancellationToken ct)
    {
        var mapping = await store.GetMappingAsync(row.VolumeId, ct);
        var export = await store.GetExportAsync(row.VolumeId, ct);
        return new VolumeView(row.Id, row.VolumeId, row.VolumeName, row.Size, row.Status, row.OsseaConfigId, row.VmId,
            mapping?.ToView(), export?.ToView(), row.CreatedAt, row.UpdatedAt);
    }
}

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

internal static class GetVolumeDevice
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<GetVolumeDeviceQuery, DeviceMappingView?>
    {
        public async Task<DeviceMappingView?> Handle(GetVolumeDeviceQuery request, CancellationToken cancellationToken) =>
            (await store.GetMappingAsync(request.VolumeId, cancellationToken))?.ToView();
    }
}

internal static class ListVolumeOperations
{
    internal sealed class Handler(VolumeStore store) : IRequestHandler<ListVolumeOperationsQuery, IReadOnlyList<VolumeOperationView>>
    {
        public Task<IReadOnlyList<VolumeOperationView>> Handle(ListVolumeOperationsQuery request, CancellationToken cancellationToken) =>
            store.ListOperationsAsync(request.VolumeId, Math.Clamp(request.Limit, 1, 1000), cancellationToken);
    }
}
