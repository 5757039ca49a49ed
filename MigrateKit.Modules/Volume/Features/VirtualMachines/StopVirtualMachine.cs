using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class StopVirtualMachine
{
    internal sealed class Validator : AbstractValidator<StopVirtualMachineCommand>
    {
        public Validator()
        {
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.VmId).OsseaId();
        }
    }

    internal sealed class Handler(OsseaClients clients, OperationRecorder operations, VolumeLocks locks, VirtualMachineStateChanges changes)
        : IRequestHandler<StopVirtualMachineCommand, VirtualMachineView>
    {
        public async Task<VirtualMachineView> Handle(StopVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, config) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            if (string.Equals(c.VmId, config.OmaVmId, StringComparison.OrdinalIgnoreCase))
            {
                // Stopping the OMA appliance would stop MigrateKit itself, mid-command.
                throw new ConflictException($"VM {c.VmId} is the OMA appliance of OSSEA config {c.OsseaConfigId}; MigrateKit never stops it.");
            }
            return await operations.RunAsync("stop_vm", null, c.VmId, c, async (_, ct) =>
            {
                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(c.VmId)], ct);
                var vm = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                if (vm.State == OsseaVmStates.Stopped)
                {
                    return vm.ToView();
                }
                var changed = await changes.RunAsync(client, c.VmId, token => client.StopVirtualMachineAsync(c.VmId, c.Forced, clients.Operation("stop_vm"), token),
                    v => v?.State == OsseaVmStates.Stopped, ct);
                return (changed ?? throw new NotFoundException($"OSSEA has no VM {c.VmId}.")).ToView();
            }, cancellationToken);
        }
    }
}
