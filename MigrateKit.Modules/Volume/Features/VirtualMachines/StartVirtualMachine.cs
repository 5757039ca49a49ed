using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

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

    internal sealed class Handler(OsseaClients clients, VirtualMachineOperations operations, VolumeLocks locks)
        : IRequestHandler<StartVirtualMachineCommand, VirtualMachineView>
    {
        public async Task<VirtualMachineView> Handle(StartVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            return await operations.RunAsync("start_vm", c.VmId, c, async (_, ct) =>
            {
                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(c.VmId)], ct);
                var vm = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                if (vm.State == "Running")
                {
                    return vm.ToView();
                }
                try
                {
                    return (await client.StartVirtualMachineAsync(c.VmId, clients.Operation("start_vm"), ct)).ToView();
                }
                catch (OsseaApiException ex) when (ex.OutcomeUnknown)
                {
                    // The answer was lost: the start happened if OSSEA now shows the VM running.
                    var now = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                    if (now.State != "Running")
                    {
                        throw;
                    }
                    return now.ToView();
                }
            }, cancellationToken);
        }
    }
}
