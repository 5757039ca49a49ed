using System.Net.Http.Headers;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Host.Oma.Hosting;
using MigrateKit.Modules.Core.Contracts;

namespace MigrateKit.Tests.Support;

/// <summary>The real OMA service (Kestrel on 127.0.0.1, a free port) against the test database.</summary>
internal sealed class OmaTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OmaTestHost(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
        Anonymous = new HttpClient { BaseAddress = address };
    }

    public Uri Address { get; }

    public HttpClient Anonymous { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>Where the OMA's tunnel listens (agents dial it).</summary>
    public System.Net.IPEndPoint TunnelEndPoint =>
        _app.Services.GetRequiredService<MigrateKit.Modules.Agents.Tunnel.TunnelHost>().Server!.LocalEndPoint;

    public static async Task<OmaTestHost> StartAsync(string connectionString, IDictionary<string, string?>? settings = null,
        Action<IServiceCollection>? configureServices = null)
    {
        var values = new Dictionary<string, string?>
        {
            ["Database:ConnectionString"] = connectionString,
            ["Api:Listen"] = "127.0.0.1:0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Microsoft.Hosting.Lifetime"] = "Warning",
            ["Secrets:KeyFile"] = TestDirectories.SecretKeyFile,
            ["Tunnel:Listen"] = "127.0.0.1:0",
            ["Nbd:Listen"] = "127.0.0.1:0", // never a fixed port: other OMAs (a developer's, a parallel run) may hold 10809
            ["Tunnel:PkiDirectory"] = TestDirectories.Create("pki"),
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            values[key] = value;
        }
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(values).Build();
        var app = OmaApplication.Build(configuration, configureServices);
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new OmaTestHost(app, new Uri(address));
    }

    /// <summary>An HTTP client carrying a freshly created admin token.</summary>
    public async Task<HttpClient> CreateAdminClientAsync(string name = "tests")
    {
        await using var scope = _app.Services.CreateAsyncScope();
        var created = await scope.ServiceProvider.GetRequiredService<IMediator>().Send(new CreateAdminTokenCommand(name));
        var client = new HttpClient { BaseAddress = Address };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", created.Token);
        return client;
    }

    public async ValueTask DisposeAsync()
    {
        Anonymous.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
