using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Host.Vma.Hosting;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;

namespace MigrateKit.Tests.Vma.Support;

/// <summary>
/// The real VMA agent (the host's VmaApplication: loopback Kestrel, tunnel client, sync manager)
/// enrolled with a real OMA test host, reading source disks mapped to local images (read directly by FileDiskReader).
/// </summary>
internal sealed class VmaTestAgent : IAsyncDisposable
{
    private readonly WebApplication _app;

    private VmaTestAgent(WebApplication app, string name, HttpClient local)
    {
        _app = app;
        Name = name;
        Local = local;
    }

    public string Name { get; }

    /// <summary>The loopback API, as an operator on the VMA would call it.</summary>
    public HttpClient Local { get; }

    public IServiceProvider Services => _app.Services;

    public static async Task<VmaTestAgent> StartAsync(OmaWithOssea env, VcSimInstance sim, string name,
        IEnumerable<(string Vm, int DeviceKey, string Source)> mappings, IDictionary<string, string?>? settings = null)
    {
        var state = TestDirectories.Create("vma-state");
        string token;
        await using (var scope = env.Host.Services.CreateAsyncScope())
        {
            token = (await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new CreateEnrollmentTokenCommand(name, TimeSpan.FromHours(1)))).Token;
        }
        var omaConfiguration = env.Host.Services.GetRequiredService<IConfiguration>();
        await TunnelEnrollmentClient.EnrollAsync(new EnrollmentOptions
        {
            Host = "127.0.0.1",
            Port = env.Host.TunnelEndPoint.Port,
            ServerFingerprint = CertificateFingerprint.Parse(AgentsModule.ServerFingerprint(omaConfiguration, TimeProvider.System)),
            Token = token,
            AgentName = name,
            Timeout = TimeSpan.FromSeconds(10),
        }, new AgentCredentialStore(state), CancellationToken.None);

        var values = new Dictionary<string, string?>
        {
            ["VSphere:Address"] = sim.Url.ToString(),
            ["VSphere:User"] = VcSimInstance.User,
            ["VSphere:PasswordFile"] = sim.PasswordFile,
            ["VSphere:Thumbprint"] = sim.Thumbprint,
            ["VSphere:RequestTimeout"] = "00:00:30",
            ["VSphere:TaskTimeout"] = "00:00:30",
            ["Vma:ApiListen"] = "127.0.0.1:0",
            ["Vma:Oma:Host"] = "127.0.0.1",
            ["Vma:Oma:Port"] = env.Host.TunnelEndPoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Vma:Oma:StateDirectory"] = state,
            ["Vma:Oma:Connections"] = "2",
            ["Vma:Oma:ReconnectInitialDelay"] = "00:00:00.050",
            ["Vma:Oma:ReconnectMaxDelay"] = "00:00:00.200",
            ["Vma:DiskSource"] = "mapped",
            ["Vma:Streaming:ChunkBytes"] = (1024 * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        var i = 0;
        foreach (var (vm, key, source) in mappings)
        {
            values[$"Vma:DiskMappings:{i}:Vm"] = vm;
            values[$"Vma:DiskMappings:{i}:DeviceKey"] = key.ToString(System.Globalization.CultureInfo.InvariantCulture);
            values[$"Vma:DiskMappings:{i}:Source"] = source;
            i++;
        }
        foreach (var (k, v) in settings ?? new Dictionary<string, string?>())
        {
            values[k] = v;
        }
        var app = VmaApplication.Build(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        await app.StartAsync();
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        var agent = new VmaTestAgent(app, name, new HttpClient { BaseAddress = new Uri(address) });

        var channel = env.Host.Services.GetRequiredService<IAgentChannel>();
        var clock = Stopwatch.StartNew();
        while (!channel.IsConnected(name))
        {
            if (clock.Elapsed > TimeSpan.FromSeconds(20))
            {
                await agent.DisposeAsync();
                Assert.Fail($"agent {name} never registered on the OMA");
            }
            await Task.Delay(20);
        }
        return agent;
    }

    /// <summary>What the OMA does: HTTP to the agent API over a "vma-api" tunnel stream (SocketsHttpHandler.ConnectCallback).</summary>
    public static HttpClient OmaClientFor(OmaWithOssea env, string agent)
    {
        var channel = env.Host.Services.GetRequiredService<IAgentChannel>();
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) => await channel.OpenStreamAsync(agent, "vma-api", ct),
        };
        return new HttpClient(handler) { BaseAddress = new Uri($"http://{agent}/"), Timeout = TimeSpan.FromSeconds(60) };
    }

    public async ValueTask DisposeAsync()
    {
        Local.Dispose();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}

/// <summary>Volumes on the OMA for the targets: create, attach (real loop device), export over NBD.</summary>
internal static class VmaTargets
{
    public static async Task<(string Export, string DevicePath)> CreateExportAsync(OmaWithOssea env, string name)
    {
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, name, 1L << 30));
        var mapping = await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        await env.SendAsync(new EnsureNbdExportCommand(volume.VolumeId, name));
        return (name, mapping.DevicePath!);
    }
}

/// <summary>JSON helpers for the API shapes.</summary>
internal static class VmaApi
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static async Task<JsonElement> GetJsonAsync(this HttpClient http, string url)
    {
        using var response = await http.GetAsync(url);
        var text = await response.Content.ReadAsStringAsync();
        Assert.That((int)response.StatusCode, Is.EqualTo(200), $"GET {url}: {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public static async Task<(int Status, JsonElement Body)> PostJsonAsync(this HttpClient http, string url, object? body)
    {
        using var response = body is null ? await http.PostAsync(url, null) : await http.PostAsJsonAsync(url, body, Json);
        var text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default);
    }

    /// <summary>Polls GET /progress/{jobId} until the sync ends (bounded).</summary>
    public static async Task<JsonElement> WaitForSyncAsync(this HttpClient http, string jobId, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var progress = await http.GetJsonAsync($"api/v1/progress/{jobId}");
            if (progress.GetProperty("state").GetString() is "completed" or "failed" or "cancelled" or "cbt-reset")
            {
                return progress;
            }
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"sync {jobId} did not end within {timeout}: {progress}");
            }
            await Task.Delay(100);
        }
    }
}
