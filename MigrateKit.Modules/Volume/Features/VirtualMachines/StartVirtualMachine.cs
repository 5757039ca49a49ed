using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class StartVirtualMachine
{
    internal sealed class Validator : AbstractValidator<StartVirtualMachineCommand>
    {
        public Validator()
        {
            RuleFor(c => c.OsseaConfigId).GreaterThan(0);
            RuleFor(c => c.VmId).OsseaId();
        }
    }

    internal sealed class Handler(OsseaClients clients, OperationRecorder operations, VolumeLocks locks, VirtualMachineStateChanges changes)
        : IRequestHandler<StartVirtualMachineCommand, VirtualMachineView>
    {
        public async Task<VirtualMachineView> Handle(StartVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            return await operations.RunAsync("start_vm", null, c.VmId, c, async (_, ct) =>
            {
                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(c.VmId)], ct);
                var vm = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                if (vm.State == OsseaVmStates.Running)
                {
                    return vm.ToView();
                }
                var changed = await changes.RunAsync(client, c.VmId, token => client.StartVirtualMachineAsync(c.VmId, clients.Operation("start_vm"), token),
                    v => v?.State == OsseaVmStates.Running, ct);
                return (changed ?? throw new NotFoundException($"OSSEA has no VM {c.VmId}.")).ToView();
            }, cancellationToken);
        }
    }
}
