using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

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

    internal sealed class Handler(OsseaClients clients, VirtualMachineOperations operations, VolumeLocks locks)
        : IRequestHandler<StopVirtualMachineCommand, VirtualMachineView>
    {
        public async Task<VirtualMachineView> Handle(StopVirtualMachineCommand c, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(c.OsseaConfigId, cancellationToken);
            return await operations.RunAsync("stop_vm", c.VmId, c, async (_, ct) =>
            {
                using var vmLock = await locks.AcquireAsync([VolumeLocks.Vm(c.VmId)], ct);
                var vm = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                if (vm.State == "Stopped")
                {
                    return vm.ToView();
                }
                try
                {
                    return (await client.StopVirtualMachineAsync(c.VmId, c.Forced, clients.Operation("stop_vm"), ct)).ToView();
                }
                catch (OsseaApiException ex) when (ex.OutcomeUnknown)
                {
                    // The answer was lost: the stop happened if OSSEA now shows the VM stopped.
                    var now = await VirtualMachineViews.RequireAsync(client, c.VmId, ct);
                    if (now.State != "Stopped")
                    {
                        throw;
                    }
                    return now.ToView();
                }
            }, cancellationToken);
        }
    }
}
