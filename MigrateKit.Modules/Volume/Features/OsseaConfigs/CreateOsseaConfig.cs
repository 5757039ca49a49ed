using FluentValidation;
using MediatR;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.Security;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Modules.Volume.Views;

namespace MigrateKit.Modules.Volume.Features.OsseaConfigs;

internal static class CreateOsseaConfig
{
    internal sealed class Validator : AbstractValidator<CreateOsseaConfigCommand>
    {
        public Validator()
        {
            RuleFor(c => c.Name).NotEmpty().MaximumLength(128).Matches("^[A-Za-z0-9][A-Za-z0-9._-]*$")
                .WithMessage("Name must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.");
            RuleFor(c => c.ApiUrl).NotEmpty().MaximumLength(512)
                .Must(u => Uri.TryCreate(u, UriKind.Absolute, out var uri) && (uri.Scheme == Uri.UriSchemeHttps || uri.Scheme == Uri.UriSchemeHttp))
                .WithMessage("ApiUrl must be an absolute http(s) URL, e.g. https://cloud.example.com/client/api.");
            RuleFor(c => c.ApiKey).NotEmpty().MaximumLength(512);
            RuleFor(c => c.SecretKey).NotEmpty().MaximumLength(512);
            RuleFor(c => c.Zone).NotEmpty().MaximumLength(64);
            RuleFor(c => c.OmaVmId).NotEmpty().MaximumLength(64);
            RuleFor(c => c.Domain).MaximumLength(255);
            RuleFor(c => c.TemplateId).MaximumLength(64);
            RuleFor(c => c.NetworkId).MaximumLength(64);
            RuleFor(c => c.ServiceOfferingId).MaximumLength(64);
            RuleFor(c => c.DiskOfferingId).MaximumLength(64);
        }
    }

    internal sealed class Handler(OsseaConfigStore store, SecretProtector secrets, OsseaClientFactory clients, TimeProvider time)
        : IRequestHandler<CreateOsseaConfigCommand, OsseaConfigView>
    {
        public async Task<OsseaConfigView> Handle(CreateOsseaConfigCommand c, CancellationToken cancellationToken)
        {
            if (await store.NameExistsAsync(c.Name, cancellationToken))
            {
                throw new ConflictException($"An OSSEA config named '{c.Name}' already exists.");
            }
            await TestConnectionAsync(c, cancellationToken);
            var id = await store.InsertAsync(new
            {
                c.Name,
                c.ApiUrl,
                ApiKey = secrets.Protect(c.ApiKey),
                SecretKey = secrets.Protect(c.SecretKey),
                c.Domain,
                c.Zone,
                c.TemplateId,
                c.NetworkId,
                c.ServiceOfferingId,
                c.DiskOfferingId,
                c.OmaVmId,
                At = time.GetUtcNow().UtcDateTime,
            }, cancellationToken);
            return (await store.GetAsync(id, cancellationToken))!.ToView();
        }

        /// <summary>A config that cannot reach its zone is refused before it is stored.</summary>
        private async Task TestConnectionAsync(CreateOsseaConfigCommand c, CancellationToken ct)
        {
            var client = clients.Create(new OsseaConfig
            {
                Name = c.Name, ApiUrl = c.ApiUrl, ApiKey = c.ApiKey, SecretKey = c.SecretKey, Zone = c.Zone, OmaVmId = c.OmaVmId,
            });
            string? failure;
            try
            {
                var check = await client.TestConnectionAsync(ct);
                failure = check.Succeeded ? null : check.Message;
            }
            catch (Exception ex) when (ex is OsseaException or HttpRequestException or TimeoutException)
            {
                failure = ex.Message;
            }
            if (failure is not null)
            {
                throw new RequestValidationException(new Dictionary<string, string[]> { ["Connection"] = [$"OSSEA connection test failed: {failure}"] });
            }
        }
    }
}
