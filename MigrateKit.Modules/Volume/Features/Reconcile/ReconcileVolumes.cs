using MediatR;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Devices;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.Reconcile;

/// <summary>
/// Compares ossea_volumes / device_mappings, OSSEA's own view and the kernel's block devices.
/// Safe repairs only (device names that moved, states); anything else is reported in the job log
/// for an operator. It never deletes a volume, a mapping or data by itself.
/// </summary>
internal static class ReconcileVolumes
{
    internal sealed class Handler(OsseaClients clients, VolumeStore store, DeviceCorrelator devices, NbdExportService exports,
        IJobTracker jobs, TimeProvider time) : IRequestHandler<ReconcileVolumesCommand, ReconcileReport>
    {
        public async Task<ReconcileReport> Handle(ReconcileVolumesCommand request, CancellationToken ct)
        {
            var repaired = new List<string>();
            var problems = new List<string>();
            var volumes = await store.ListVolumesAsync(ct);
            var exportChanged = false;
            foreach (var volume in volumes)
            {
                var mapping = await store.GetMappingAsync(volume.VolumeId, ct);
                OsseaVolume? inCloud;
                try
                {
                    var (client, _) = await clients.GetAsync(volume.OsseaConfigId, ct);
                    inCloud = await client.GetVolumeAsync(volume.VolumeId, ct);
                }
                catch (OsseaApiException ex)
                {
                    problems.Add($"{volume.VolumeId}: OSSEA could not be asked ({ex.Message})");
                    continue;
                }
                if (inCloud is null)
                {
                    problems.Add($"{volume.VolumeId} ({volume.VolumeName}): recorded here but unknown to OSSEA");
                    continue;
                }
                var cloudVm = string.IsNullOrEmpty(inCloud.VirtualMachineId) ? null : inCloud.VirtualMachineId;
                if (mapping is null && cloudVm is not null)
                {
                    problems.Add($"{volume.VolumeId}: OSSEA has it attached to {cloudVm} but no mapping records that");
                }
                else if (mapping is not null && cloudVm != mapping.VmId)
                {
                    problems.Add($"{volume.VolumeId}: mapped to {mapping.VmId} but OSSEA says {cloudVm ?? "detached"}");
                }
                if (mapping is { OperationMode: OperationModes.Oma } && cloudVm == mapping.VmId)
                {
                    exportChanged |= await RepairDeviceAsync(volume, mapping, inCloud, repaired, problems, ct);
                }
            }
            if (exportChanged)
            {
                await exports.ReloadAsync(ct);
            }
            if (jobs.Current is { } job)
            {
                foreach (var line in repaired)
                {
                    await job.InfoAsync("repaired: " + line, ct);
                }
                foreach (var line in problems)
                {
                    await job.WarnAsync("needs an operator: " + line, ct);
                }
            }
            return new ReconcileReport(volumes.Count, repaired, problems);
        }

        private async Task<bool> RepairDeviceAsync(VolumeRow volume, MappingRow mapping, OsseaVolume inCloud, List<string> repaired,
            List<string> problems, CancellationToken ct)
        {
            var now = time.GetUtcNow().UtcDateTime;
            var device = devices.Find(volume.VolumeId);
            if (device is null)
            {
                problems.Add($"{volume.VolumeId}: attached to the OMA but no device with its serial is visible");
                await store.UpdateMappingDeviceAsync(volume.VolumeId, mapping.DevicePath, mapping.StableDevicePath, inCloud.State ?? mapping.CloudstackState, LinuxDeviceStates.Missing, now, ct);
                return false;
            }
            var moved = device.KernelPath != mapping.DevicePath;
            if (moved)
            {
                repaired.Add($"{volume.VolumeId}: device moved from {mapping.DevicePath} to {device.KernelPath}");
            }
            await store.UpdateMappingDeviceAsync(volume.VolumeId, device.KernelPath, device.StablePath, inCloud.State ?? mapping.CloudstackState, LinuxDeviceStates.Present, now, ct);
            await store.UpdateVolumeStateAsync(volume.VolumeId, inCloud.State ?? volume.Status, mapping.VmId, device.KernelPath, volume.Size, now, ct);
            if (moved && await store.GetExportAsync(volume.VolumeId, ct) is not null)
            {
                await store.UpdateExportDeviceAsync(volume.VolumeId, device.KernelPath, now, ct);
                return true;
            }
            return false;
        }
    }

    /// <summary>Runs the reconciler at start-up and then on a timer.</summary>
    internal sealed class Worker(IServiceScopeFactory scopes, VolumeOptions options, TimeProvider time) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    await using var scope = scopes.CreateAsyncScope();
                    await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new ReconcileVolumesCommand(), stoppingToken);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Already recorded as a failed job of the job log; the next round tries again.
                }
                try
                {
                    await Task.Delay(options.ReconcileInterval, time, stoppingToken);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        }
    }
}
