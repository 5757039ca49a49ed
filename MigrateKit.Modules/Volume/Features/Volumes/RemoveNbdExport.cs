using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class RemoveNbdExport
{
    internal sealed class Handler(VolumeStore store, OperationRecorder operations, VolumeLocks locks, NbdExportService exports)
        : IRequestHandler<RemoveNbdExportCommand, Unit>
    {
        public Task<Unit> Handle(RemoveNbdExportCommand c, CancellationToken cancellationToken) =>
            operations.RunAsync("unexport", c.VolumeId, null, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                await store.DeleteExportAsync(c.VolumeId, ct);
                await exports.ReloadAsync(ct);
                return Unit.Value;
            }, cancellationToken);
    }
}
