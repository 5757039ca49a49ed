using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Views;

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
