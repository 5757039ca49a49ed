using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MigrateKit.Modules.Core.Auth;

/// <summary>"Authorization: Bearer &lt;token&gt;" against the hashes in admin_tokens.</summary>
internal sealed class AdminTokenAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    AdminTokenStore store,
    TimeProvider time)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "AdminToken";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header))
        {
            return AuthenticateResult.NoResult();
        }
        const string BearerPrefix = "Bearer ";
        if (!header.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase) || header.Length > 512)
        {
            return AuthenticateResult.Fail("Authorization must be 'Bearer <token>'.");
        }
        var token = header[BearerPrefix.Length..].Trim();
        if (!token.StartsWith(AdminTokenFormat.Prefix, StringComparison.Ordinal))
        {
            return AuthenticateResult.Fail("Not a MigrateKit admin token.");
        }
        var identity = await store.FindActiveAsync(AdminTokenFormat.Hash(token), time.GetUtcNow().UtcDateTime, Context.RequestAborted);
        if (identity is null)
        {
            return AuthenticateResult.Fail("Unknown or revoked token.");
        }
        var principal = new ClaimsPrincipal(new ClaimsIdentity(
            [new Claim(ClaimTypes.Name, identity.Name), new Claim("token_id", identity.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            SchemeName));
        return AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = 401;
        Response.Headers.WWWAuthenticate = "Bearer";
        return Task.CompletedTask;
    }
}
