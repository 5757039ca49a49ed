using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Devices;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.Volumes;

internal static class AttachVolume
{
    internal sealed class Validator : AbstractValidator<AttachVolumeCommand>
    {
        public Validator()
        {
            RuleFor(c => c.VolumeId).NotEmpty().MaximumLength(64);
            RuleFor(c => c.VmId).MaximumLength(64);
        }
    }

    internal sealed class Handler(
        OsseaClients clients, VolumeStore store, OperationRecorder operations, VolumeLocks locks, DeviceCorrelator devices,
        IJobTracker jobs, TimeProvider time) : IRequestHandler<AttachVolumeCommand, DeviceMappingView>
    {
        public async Task<DeviceMappingView> Handle(AttachVolumeCommand c, CancellationToken cancellationToken)
        {
            var (volume, client, config) = await clients.ForVolumeAsync(store, c.VolumeId, cancellationToken);
            var vmId = c.VmId ?? config.OmaVmId ?? throw new ConflictException("The OSSEA config names no OMA appliance VM.");
            var toOma = vmId == config.OmaVmId;
            return await operations.RunAsync("attach", c.VolumeId, vmId, c, async ct =>
            {
                using var _ = await locks.AcquireAsync([VolumeLocks.Vm(vmId), VolumeLocks.Volume(c.VolumeId)], ct);
                if (await store.GetMappingAsync(c.VolumeId, ct) is { } existing)
                {
                    // Repeating an attach returns what exists: never a second device for one volume.
                    return existing.VmId == vmId
                        ? existing.ToView()
                        : throw new ConflictException($"Volume {c.VolumeId} is attached to VM {existing.VmId}; detach it first.");
                }
                var inCloud = await client.GetVolumeAsync(c.VolumeId, ct)
                    ?? throw new ConflictException($"OSSEA does not know volume {c.VolumeId} (deleted outside MigrateKit?).");
                OsseaVolume attached;
                if (inCloud.VirtualMachineId == vmId)
                {
                    // Attached by an earlier attempt that died before recording it: adopt, do not attach twice.
                    attached = inCloud;
                    await Log($"volume was already attached to {vmId} in OSSEA; adopting it", ct);
                }
                else if (inCloud.VirtualMachineId is { Length: > 0 } other)
                {
                    throw new ConflictException($"Volume {c.VolumeId} is attached to VM {other} in OSSEA; detach it first.");
                }
                else
                {
                    attached = await client.AttachVolumeAsync(c.VolumeId, vmId, c.AsRoot ? 0 : null, clients.Operation("attach_volume"), ct);
                }

                LocalDevice? device = null;
                if (toOma)
                {
                    device = await devices.WaitForDeviceAsync(c.VolumeId, attached.Size > 0 ? attached.Size : volume.Size, ct);
                    if (device is null)
                    {
                        // A volume attached where nobody can find it is worse than no attach: undo it.
                        await client.DetachVolumeAsync(c.VolumeId, clients.Operation("detach_volume"), CancellationToken.None);
                        throw new DeviceNotFoundException(
                            $"Volume {c.VolumeId} was attached to the OMA but no device with serial {OsseaVolumeSerial.FromVolumeId(c.VolumeId)} appeared; the attach was undone.");
                    }
                    await Log($"volume is {device.KernelPath} ({device.StablePath ?? "no stable name"})", ct);
                }

                var now = time.GetUtcNow().UtcDateTime;
                var mapping = new MappingRow(0, c.VolumeId, vmId, toOma ? OperationModes.Oma : OperationModes.Failover,
                    attached.DeviceId is { } id ? (int)id : null, device?.KernelPath, device?.StablePath,
                    attached.State ?? OsseaVolumeStates.Ready, device is null ? LinuxDeviceStates.NotLocal : LinuxDeviceStates.Present, device?.SizeBytes ?? attached.Size, now, now, now);
                await store.InsertMappingAsync(mapping, ct);
                await store.UpdateVolumeStateAsync(c.VolumeId, attached.State ?? OsseaVolumeStates.Ready, vmId, device?.KernelPath,
                    attached.Size > 0 ? attached.Size : volume.Size, now, ct);
                return (await store.GetMappingAsync(c.VolumeId, ct))!.ToView();
            }, cancellationToken);
        }

        private Task Log(string message, CancellationToken ct) => jobs.Current?.InfoAsync(message, ct) ?? Task.CompletedTask;
    }
}

/// <summary>An attached volume's device did not appear in time.</summary>
internal sealed class DeviceNotFoundException(string message) : Exception(message);
