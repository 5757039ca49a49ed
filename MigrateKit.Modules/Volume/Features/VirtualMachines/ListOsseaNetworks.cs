using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

internal static class ListOsseaNetworks
{
    internal sealed class Validator : AbstractValidator<ListOsseaNetworksQuery>
    {
        public Validator() => RuleFor(q => q.OsseaConfigId).GreaterThan(0);
    }

    internal sealed class Handler(OsseaClients clients) : IRequestHandler<ListOsseaNetworksQuery, IReadOnlyList<OsseaNetworkView>>
    {
        public async Task<IReadOnlyList<OsseaNetworkView>> Handle(ListOsseaNetworksQuery q, CancellationToken cancellationToken)
        {
            var (client, config) = await clients.GetAsync(q.OsseaConfigId, cancellationToken);
            // Only the config's zone's guest networks: VMs are deployed there, so only those can be mapped to.
            var zoneId = Guid.TryParse(config.Zone, out _) ? config.Zone : null;
            var networks = await client.ListNetworksAsync(zoneId, null, cancellationToken);
            return networks
                .Where(n => !n.IsSystem && (zoneId is not null || string.Equals(n.ZoneName, config.Zone, StringComparison.Ordinal)))
                .Select(n => new OsseaNetworkView(n.Id, n.Name ?? n.Id, n.ZoneId, n.State, n.Type))
                .OrderBy(n => n.Name, StringComparer.Ordinal)
                .ToList();
        }
    }
}
