using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

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
