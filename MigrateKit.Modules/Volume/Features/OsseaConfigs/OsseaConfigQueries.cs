using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Features.OsseaConfigs;

internal static class ListOsseaConfigs
{
    internal sealed class Handler(OsseaConfigStore store) : IRequestHandler<ListOsseaConfigsQuery, IReadOnlyList<OsseaConfigView>>
    {
        public async Task<IReadOnlyList<OsseaConfigView>> Handle(ListOsseaConfigsQuery request, CancellationToken cancellationToken) =>
            (await store.ListAsync(cancellationToken)).Select(r => r.ToView()).ToList();
    }
}

internal static class GetOsseaConfig
{
    internal sealed class Handler(OsseaConfigStore store) : IRequestHandler<GetOsseaConfigQuery, OsseaConfigView?>
    {
        public async Task<OsseaConfigView?> Handle(GetOsseaConfigQuery request, CancellationToken cancellationToken) =>
            (await store.GetAsync(request.Id, cancellationToken))?.ToView();
    }
}

internal static class DeleteOsseaConfig
{
    internal sealed class Handler(OsseaConfigStore store) : IRequestHandler<DeleteOsseaConfigCommand, Unit>
    {
        public async Task<Unit> Handle(DeleteOsseaConfigCommand request, CancellationToken cancellationToken)
        {
            var (found, inUse) = await store.DeleteAsync(request.Id, cancellationToken);
            if (!found)
            {
                throw new NotFoundException($"No OSSEA config {request.Id}.");
            }
            if (inUse)
            {
                throw new ConflictException($"OSSEA config {request.Id} is still used by volumes or replication jobs.");
            }
            return Unit.Value;
        }
    }
}
