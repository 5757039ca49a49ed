using System.Security.Cryptography;
using System.Text;
using FluentValidation;
using MediatR;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Agents.Data;

namespace MigrateKit.Modules.Agents.Features;

/// <summary>Enrollment token format: "mke_" + 256 random bits, base64url; only its SHA-256 is stored.</summary>
internal static class EnrollmentTokens
{
    public const string Prefix = "mke_";
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(7);

    public static string NewToken() =>
        Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    public static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}

internal static class CreateEnrollmentToken
{
    internal sealed class Validator : AbstractValidator<CreateEnrollmentTokenCommand>
    {
        public Validator()
        {
            RuleFor(c => c.AgentName).NotEmpty().MaximumLength(128).Matches("^[A-Za-z0-9][A-Za-z0-9._-]*$")
                .WithMessage("AgentName must start with a letter or digit and contain only letters, digits, '.', '_' and '-'.");
            RuleFor(c => c.Lifetime).GreaterThan(TimeSpan.Zero).LessThanOrEqualTo(EnrollmentTokens.MaxLifetime)
                .WithMessage($"Lifetime must be more than zero and at most {EnrollmentTokens.MaxLifetime.TotalDays} days.");
        }
    }

    internal sealed class Handler(AgentStore store, TimeProvider time) : IRequestHandler<CreateEnrollmentTokenCommand, CreatedEnrollmentToken>
    {
        public async Task<CreatedEnrollmentToken> Handle(CreateEnrollmentTokenCommand request, CancellationToken cancellationToken)
        {
            var token = EnrollmentTokens.NewToken();
            var now = time.GetUtcNow().UtcDateTime;
            var expires = now + request.Lifetime;
            await store.InsertTokenAsync(request.AgentName, EnrollmentTokens.Hash(token), now, expires, cancellationToken);
            return new CreatedEnrollmentToken(request.AgentName, token, expires);
        }
    }
}
