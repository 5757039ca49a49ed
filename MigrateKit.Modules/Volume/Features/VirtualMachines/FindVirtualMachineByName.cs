using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Views;
using MigrateKit.Modules.Volume.Validation;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class FindVirtualMachineByName
{
    internal sealed class Validator : AbstractValidator<FindVirtualMachineByNameQuery>
    {
        public Validator()
        {
            RuleFor(q => q.OsseaConfigId).GreaterThan(0);
            RuleFor(q => q.Name).VmHostName();
        }
    }

    internal sealed class Handler(OsseaClients clients) : IRequestHandler<FindVirtualMachineByNameQuery, VirtualMachineView?>
    {
        public async Task<VirtualMachineView?> Handle(FindVirtualMachineByNameQuery q, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(q.OsseaConfigId, cancellationToken);
            // listVirtualMachines' name filter is a substring match in CloudStack: keep exact matches only.
            var live = (await client.ListVirtualMachinesAsync(null, q.Name, cancellationToken))
                .Where(v => string.Equals(v.Name, q.Name, StringComparison.OrdinalIgnoreCase) && !VirtualMachineViews.IsGone(v))
                .ToList();
            return live.Count switch
            {
                0 => null,
                1 => live[0].ToView(),
                _ => throw new ConflictException($"OSSEA has {live.Count} VMs named '{q.Name}'."),
            };
        }
    }
}
