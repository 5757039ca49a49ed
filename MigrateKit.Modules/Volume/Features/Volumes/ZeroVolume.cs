using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class ZeroVolume
{
    private const long GiB = 1L << 30;

    internal sealed class Handler(VolumeStore store, OperationRecorder operations, VolumeLocks locks, NbdExportService exports)
        : IRequestHandler<ZeroVolumeCommand, Unit>
    {
        public Task<Unit> Handle(ZeroVolumeCommand c, CancellationToken cancellationToken) =>
            operations.RunAsync("zero", c.VolumeId, null, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Volume(c.VolumeId)], ct);
                var export = await store.GetExportAsync(c.VolumeId, ct)
                    ?? throw new ConflictException($"Volume {c.VolumeId} has no NBD export; only exported volumes can be zeroed.");
                var endpoint = exports.LocalEndPoint ?? throw new ConflictException("The OMA's NBD server is not running.");
                // Through our own server, so the zeroing is the same WRITE_ZEROES (hole punching) agents use.
                await using var nbd = await NbdClient.ConnectTcpAsync(endpoint.Address.ToString(), endpoint.Port, export.ExportName, ct: ct);
                // Requests carry a 32-bit length: zero in 1 GiB pieces.
                for (long offset = 0; offset < nbd.Size; offset += GiB)
                {
                    await nbd.WriteZeroesAsync(offset, Math.Min(GiB, nbd.Size - offset), ct: ct);
                }
                await nbd.FlushAsync(ct);
                await nbd.DisconnectAsync(ct);
                return Unit.Value;
            }, cancellationToken);
    }
}
