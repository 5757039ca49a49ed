using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Modules.Vma.Streaming;

namespace MigrateKit.Modules.Vma.Agent;

/// <summary>
/// The agent's one outbound tunnel to the OMA (DESIGN rule 3: the VMA dials out, nothing dials in),
/// with the credentials enrollment stored. It offers the services in <see cref="Services"/>
/// (<c>vma-api</c>) and opens streams to the OMA's (<c>nbd</c>). Without an OMA host or
/// credentials the agent still runs (local diagnostics) and says why in <see cref="State"/>.
/// </summary>
internal sealed class VmaTunnel(VmaOptions options, TunnelServiceRegistry services, ILoggerFactory loggers, TimeProvider time)
    : IHostedService, IAsyncDisposable, IExportConnector
{
    private readonly ILogger _logger = loggers.CreateLogger<VmaTunnel>();
    private TunnelClient? _client;
    private string _disabledReason = "not started";

    public TunnelServiceRegistry Services { get; } = services;

    /// <summary><c>connected</c>, <c>connecting</c>, <c>stopped</c>, <c>disabled</c> or <c>not-enrolled</c>.</summary>
    public string State => _client is { } c
        ? c.State switch
        {
            TunnelClientState.Connected => "connected",
            TunnelClientState.Connecting => "connecting",
            _ => "stopped",
        }
        : _disabledReason.StartsWith("not enrolled", StringComparison.Ordinal) ? "not-enrolled" : "disabled";

    public int Connections => _client?.ConnectedCount ?? 0;

    public string? LastError => _client is { } c ? c.LastError : _disabledReason;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(options.Oma.Host))
        {
            _disabledReason = "no OMA host configured (Vma:Oma:Host)";
            VmaLog.TunnelDisabled(_logger, _disabledReason);
            return Task.CompletedTask;
        }
        var store = new AgentCredentialStore(options.Oma.StateDirectory);
        if (!store.IsEnrolled)
        {
            _disabledReason = $"not enrolled: {store.Directory} has no agent credentials; run 'migratekit-vma enroll'";
            VmaLog.TunnelDisabled(_logger, _disabledReason);
            return Task.CompletedTask;
        }
        var (certificate, ca) = store.Load();
        _client = new TunnelClient(new TunnelClientOptions
        {
            Host = options.Oma.Host,
            Port = options.Oma.Port,
            ClientCertificate = certificate,
            CaCertificate = ca,
            Connections = options.Oma.Connections,
            ReconnectInitialDelay = options.Oma.ReconnectInitialDelay,
            ReconnectMaxDelay = options.Oma.ReconnectMaxDelay,
        }, Services, loggers, time);
        _client.Start();
        VmaLog.TunnelStarted(_logger, options.Oma.Host, options.Oma.Port, options.Oma.Connections);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_client is not null)
        {
            await _client.StopAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public TunnelClient Client => _client ?? throw new TunnelUnavailableException($"no tunnel to the OMA: {_disabledReason}");

    public async Task<TunnelStream> OpenStreamAsync(string service, CancellationToken ct) =>
        await Client.OpenStreamAsync(service, ct).ConfigureAwait(false);

    /// <summary>An NBD client on the OMA export <paramref name="exportName"/>, over a tunnel stream to service <c>nbd</c>.</summary>
    public async Task<NbdClient> ConnectExportAsync(string exportName, CancellationToken ct)
    {
        var stream = await OpenStreamAsync("nbd", ct).ConfigureAwait(false);
        return await NbdClient.ConnectAsync(stream, exportName, new NbdClientOptions { MaxInFlight = 16 }, ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
            _client = null;
        }
    }
}
