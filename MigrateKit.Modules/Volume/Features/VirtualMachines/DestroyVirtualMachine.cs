using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class DestroyVirtualMachine
{
    internal sealed class Validator : AbstractValidator<DestroyVirtualMachineCommand>
    {
        public Validator()
        {
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.VmId).OsseaId();
        }
    }

    internal sealed class Handler(
        OsseaClients clients, VirtualMachineStore store, OperationRecorder operations, VolumeLocks locks, VirtualMachineStateChanges changes,
        IJobTracker jobs)
        : IRequestHandler<DestroyVirtualMachineCommand, Unit>
    {
        public async Task<Unit> Handle(DestroyVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, config) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            if (string.Equals(c.VmId, config.OmaVmId, StringComparison.OrdinalIgnoreCase))
            {
                throw new ConflictException($"VM {c.VmId} is the OMA appliance of OSSEA config {c.OsseaConfigId}; it is never destroyed.");
            }
            return await operations.RunAsync("destroy_vm", null, c.VmId, c, async (_, ct) =>
            {
                // The VM lock keeps an attach to this VM from slipping in between the check and the expunge.
                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(c.VmId)], ct);
                var vm = await client.GetVirtualMachineAsync(c.VmId, ct);
                if (vm is null || VirtualMachineViews.IsGone(vm))
                {
                    await Log($"VM {c.VmId} is {vm?.State ?? "unknown to OSSEA"}: nothing to destroy", ct);
                    return Unit.Value;
                }

                // Expunge takes the ROOT disk with it: a replicated volume must never be on the VM then,
                // whichever record (ours or OSSEA's) says so.
                var ours = await store.ManagedVolumesOnVmAsync(c.VmId, ct);
                var inCloud = await client.ListVolumesAsync(new OsseaVolumeQuery(VirtualMachineId: c.VmId), ct);
                var managedInCloud = await store.ManagedVolumeIdsAsync(
                    inCloud.Where(v => string.Equals(v.VirtualMachineId, c.VmId, StringComparison.OrdinalIgnoreCase)).Select(v => v.Id).ToList(), ct);
                var blocking = ours.Concat(managedInCloud).Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal).ToList();
                if (blocking.Count > 0)
                {
                    throw new ConflictException($"VM {c.VmId} still has managed volumes attached ({string.Join(", ", blocking)}); detach them first.");
                }

                await changes.RunAsync(client, c.VmId, token => client.DestroyVirtualMachineAsync(c.VmId, expunge: true, clients.Operation("destroy_vm"), token),
                    v => v is null || VirtualMachineViews.IsGone(v), ct);
                await Log($"VM {c.VmId} ({vm.Name}) destroyed and expunged", ct);
                return Unit.Value;
            }, cancellationToken);
        }

        private Task Log(string message, CancellationToken ct) => jobs.Current?.InfoAsync(message, ct) ?? Task.CompletedTask;
    }
}
