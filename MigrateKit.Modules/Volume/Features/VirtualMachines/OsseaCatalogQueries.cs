using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

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
            // Only the config's zone: VMs are deployed there, so only its networks can be mapped to.
            var zoneId = Guid.TryParse(config.Zone, out _) ? config.Zone : null;
            var networks = await client.ListNetworksAsync(zoneId, null, cancellationToken);
            return networks
                .Where(n => zoneId is not null || string.Equals(n.ZoneName, config.Zone, StringComparison.Ordinal))
                .Select(n => new OsseaNetworkView(n.Id, n.Name ?? n.Id, n.ZoneId, n.State, n.Type))
                .OrderBy(n => n.Name, StringComparer.Ordinal)
                .ToList();
        }
    }
}

internal static class ListServiceOfferings
{
    internal sealed class Validator : AbstractValidator<ListServiceOfferingsQuery>
    {
        public Validator() => RuleFor(q => q.OsseaConfigId).GreaterThan(0);
    }

    internal sealed class Handler(OsseaClients clients) : IRequestHandler<ListServiceOfferingsQuery, IReadOnlyList<ServiceOfferingView>>
    {
        public async Task<IReadOnlyList<ServiceOfferingView>> Handle(ListServiceOfferingsQuery q, CancellationToken cancellationToken)
        {
            var (client, _) = await clients.GetAsync(q.OsseaConfigId, cancellationToken);
            return (await client.ListServiceOfferingsAsync(null, cancellationToken))
                .Select(o => new ServiceOfferingView(o.Id, o.Name ?? o.Id, o.CpuNumber, o.Memory, o.IsCustomized))
                .OrderBy(o => o.Name, StringComparer.Ordinal)
                .ToList();
        }
    }
}

internal static class CheckOsseaConfig
{
    internal sealed class Validator : AbstractValidator<CheckOsseaConfigQuery>
    {
        public Validator() => RuleFor(q => q.OsseaConfigId).GreaterThan(0);
    }

    internal sealed class Handler(OsseaClients clients) : IRequestHandler<CheckOsseaConfigQuery, OsseaConfigCheckView>
    {
        public async Task<OsseaConfigCheckView> Handle(CheckOsseaConfigQuery q, CancellationToken cancellationToken)
        {
            // An unknown config is a 404 (thrown by GetAsync); everything OSSEA says is the answer.
            IOsseaClient client;
            try
            {
                (client, _) = await clients.GetAsync(q.OsseaConfigId, cancellationToken);
            }
            catch (Exception ex) when (ex is ArgumentException or System.Security.Cryptography.CryptographicException)
            {
                return new OsseaConfigCheckView(q.OsseaConfigId, false, $"The stored config is unusable: {ex.Message}");
            }
            try
            {
                var check = await client.TestConnectionAsync(cancellationToken);
                return new OsseaConfigCheckView(q.OsseaConfigId, check.Succeeded, check.Succeeded ? null : check.Message);
            }
            catch (Exception ex) when (ex is OsseaException or HttpRequestException or TimeoutException)
            {
                return new OsseaConfigCheckView(q.OsseaConfigId, false, ex.Message);
            }
        }
    }
}
