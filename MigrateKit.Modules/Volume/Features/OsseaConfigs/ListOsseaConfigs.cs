using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.OsseaConfigs;

internal static class ListOsseaConfigs
{
    internal sealed class Handler(OsseaConfigStore store) : IRequestHandler<ListOsseaConfigsQuery, IReadOnlyList<OsseaConfigView>>
    {
        public async Task<IReadOnlyList<OsseaConfigView>> Handle(ListOsseaConfigsQuery request, CancellationToken cancellationToken) =>
            (await store.ListAsync(cancellationToken)).Select(r => r.ToView()).ToList();
    }
}
