using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;

namespace MigrateKit.Modules.Volume.Features.OsseaConfigs;

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
