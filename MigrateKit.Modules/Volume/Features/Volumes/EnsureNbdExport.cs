using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class EnsureNbdExport
{
    internal sealed class Validator : AbstractValidator<EnsureNbdExportCommand>
    {
        public Validator()
        {
            RuleFor(c => c.VolumeId).NotEmpty().MaximumLength(64);
            // NBD export names are UTF-8 strings up to 4096 bytes; ours are plain and short.
            RuleFor(c => c.ExportName).NotEmpty().MaximumLength(255).Matches("^[A-Za-z0-9][A-Za-z0-9._-]*$")
                .WithMessage("ExportName must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.");
        }
    }

    internal sealed class Handler(VolumeStore store, OperationRecorder operations, VolumeLocks locks, NbdExportService exports, TimeProvider time)
        : IRequestHandler<EnsureNbdExportCommand, NbdExportView>
    {
        public Task<NbdExportView> Handle(EnsureNbdExportCommand c, CancellationToken cancellationToken) =>
            operations.RunAsync("export", c.VolumeId, null, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                var mapping = await store.GetMappingAsync(c.VolumeId, ct);
                if (mapping is not { OperationMode: OperationModes.Oma, DevicePath: { } devicePath })
                {
                    throw new ConflictException($"Volume {c.VolumeId} is not attached to the OMA; only OMA-attached volumes can be exported.");
                }
                if (await store.GetExportAsync(c.VolumeId, ct) is { } existing && existing.ExportName == c.ExportName && existing.DevicePath == devicePath)
                {
                    return existing.ToView();
                }
                await store.UpsertExportAsync(c.VolumeId, c.ExportName, devicePath, exports.Port, time.GetUtcNow().UtcDateTime, ct);
                await exports.ReloadAsync(ct);
                return (await store.GetExportAsync(c.VolumeId, ct))!.ToView();
            }, cancellationToken);
    }
}
