using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.OsseaConfigs;

internal static class GetOsseaConfig
{
    internal sealed class Handler(OsseaConfigStore store) : IRequestHandler<GetOsseaConfigQuery, OsseaConfigView?>
    {
        public async Task<OsseaConfigView?> Handle(GetOsseaConfigQuery request, CancellationToken cancellationToken) =>
            (await store.GetAsync(request.Id, cancellationToken))?.ToView();
    }
}
