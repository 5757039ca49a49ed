using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class GetVirtualMachine
{
    internal sealed class Validator : AbstractValidator<GetVirtualMachineQuery>
    {
        public Validator()
        {
            RuleFor(q => q.OsseaConfigId).GreaterThan(0);
            RuleFor(q => q.VmId).OsseaId();
        }
    }

    internal sealed class Handler(OsseaClients clients) : IRequestHandler<GetVirtualMachineQuery, VirtualMachineView?>
    {
        public async Task<VirtualMachineView?> Handle(GetVirtualMachineQuery q, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(q.OsseaConfigId, cancellationToken);
            var vm = await client.GetVirtualMachineAsync(q.VmId, cancellationToken);
            return vm is null || vm.State == OsseaVmStates.Expunged ? null : vm.ToView();
        }
    }
}
