using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class CreateVolume
{
    private const long GiB = 1L << 30;

    internal sealed class Validator : AbstractValidator<CreateVolumeCommand>
    {
        public Validator()
        {
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.Name).NotEmpty().MaximumLength(200).Matches("^[A-Za-z0-9][A-Za-z0-9._-]*$")
                .WithMessage("Name must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.");
            RuleFor(c => c.SizeBytes).GreaterThan(0).LessThanOrEqualTo(64L << 40);
            RuleFor(c => c.DiskOfferingId).MaximumLength(64);
        }
    }

    internal sealed class Handler(OsseaClients clients, VolumeStore store, OperationRecorder operations, IJobTracker jobs, TimeProvider time)
        : IRequestHandler<CreateVolumeCommand, VolumeView>
    {
        public async Task<VolumeView> Handle(CreateVolumeCommand c, CancellationToken cancellationToken) =>
            await operations.RunAsync("create", null, null, c, async ct =>
            {
                if (await store.VolumeNameExistsAsync(c.OsseaConfigId, c.Name, ct))
                {
                    throw new ConflictException($"A volume named '{c.Name}' already exists for OSSEA config {c.OsseaConfigId}.");
                }
                var (client, config) = await clients.GetAsync(c.OsseaConfigId, ct);
                var offering = c.DiskOfferingId ?? config.DiskOfferingId
                    ?? throw new RequestValidationException(new Dictionary<string, string[]>
                    {
                        [nameof(c.DiskOfferingId)] = ["No disk offering given and the OSSEA config has none."],
                    });
                var sizeGb = Math.Max(1, (c.SizeBytes + GiB - 1) / GiB);
                OsseaVolume created;
                try
                {
                    created = await client.CreateVolumeAsync(new OsseaCreateVolume(c.Name, offering, config.Zone, sizeGb),
                        clients.Operation("create_volume"), ct);
                }
                catch (OsseaException)
                {
                    // An async create makes the volume before its job fails: find it by its (unique) name and remove it.
                    await RemoveLeftoversAsync(client, c.Name);
                    throw;
                }
                var row = new VolumeRow(0, created.Id, c.Name, created.Size > 0 ? created.Size : sizeGb * GiB, created.State ?? OsseaVolumeStates.Allocated,
                    null, c.OsseaConfigId, null, created.Type ?? "DATADISK", offering, created.ZoneId, time.GetUtcNow().UtcDateTime, time.GetUtcNow().UtcDateTime);
                try
                {
                    await store.InsertVolumeAsync(row, ct);
                }
                catch
                {
                    // Without its row the volume would be an orphan nobody owns: give it back.
                    await client.DeleteVolumeAsync(created.Id, CancellationToken.None);
                    throw;
                }
                if (jobs.Current is { } job)
                {
                    await job.InfoAsync($"created OSSEA volume {created.Id} ({row.Size} bytes)", ct);
                }
                return await VolumeViews.BuildAsync(store, (await store.GetVolumeAsync(created.Id, ct))!, ct);
            }, cancellationToken, v => v.VolumeId);

        private async Task RemoveLeftoversAsync(IOsseaClient client, string name)
        {
            try
            {
                foreach (var leftover in await client.ListVolumesAsync(new OsseaVolumeQuery(Name: name), CancellationToken.None))
                {
                    if (leftover.Name == name && string.IsNullOrEmpty(leftover.VirtualMachineId))
                    {
                        await client.DeleteVolumeAsync(leftover.Id, CancellationToken.None);
                        if (jobs.Current is { } job)
                        {
                            await job.WarnAsync($"removed volume {leftover.Id} left behind by the failed create", CancellationToken.None);
                        }
                    }
                }
            }
            catch (OsseaException ex)
            {
                // The reconciler will report it; the create's own error is what the caller must see.
                if (jobs.Current is { } job)
                {
                    await job.WarnAsync($"could not check for a volume left behind by the failed create: {ex.Message}", CancellationToken.None);
                }
            }
        }
    }
}
