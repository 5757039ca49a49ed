using FluentValidation;
using MediatR;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Operations;

namespace MigrateKit.Modules.Volume.Features.VirtualMachines;

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
