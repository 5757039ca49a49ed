using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Modules.Agents.Tunnel;

/// <summary>
/// Owns the OMA's certificate authority and the tunnel listener (port 443 by default) for the
/// lifetime of the service, and is how other modules reach connected agents.
/// </summary>
internal sealed partial class TunnelHost(
    AgentsOptions options,
    TunnelServiceRegistry services,
    DbAgentAuthorizer authorizer,
    DbEnrollmentAuthority enrollment,
    ILoggerFactory loggers,
    TimeProvider time) : IHostedService, IAgentChannel, IAsyncDisposable
{
    private readonly ILogger _logger = loggers.CreateLogger<TunnelHost>();
    private OmaCertificateAuthority? _ca;
    private TunnelServer? _server;
    private int _disposed;

    public TunnelServer? Server => _server;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (!options.Enabled)
        {
            LogDisabled(_logger);
            return Task.CompletedTask;
        }
        _ca = LoadAuthority(options, time);
        _server = new TunnelServer(
            new TunnelServerOptions { ListenAddress = options.Listen.Address, Port = options.Listen.Port },
            _ca, services, authorizer, enrollment, loggers, time);
        _server.Start();
        LogListening(_logger, _server.LocalEndPoint.ToString(), _ca.ServerFingerprint.ToString());
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_server is not null)
        {
            await _server.StopAsync(cancellationToken);
        }
    }

    public bool IsConnected(string agentName) => _server?.IsConnected(agentName) == true;

    public async Task<Stream> OpenStreamAsync(string agentName, string service, CancellationToken cancellationToken)
    {
        if (_server is null || !_server.IsConnected(agentName))
        {
            throw new AgentUnavailableException($"Agent '{agentName}' is not connected.");
        }
        try
        {
            return await _server.OpenStreamAsync(agentName, service, cancellationToken);
        }
        catch (Exception ex) when (ex is TunnelUnavailableException or TunnelOpenRefusedException)
        {
            throw new AgentUnavailableException($"Agent '{agentName}': {ex.Message}", ex);
        }
    }

    public int Disconnect(string agentName, string reason) => _server?.DisconnectAgent(agentName, reason) ?? 0;

    public IReadOnlyList<ConnectedAgent> Connected => _server?.Agents ?? [];

    public static OmaCertificateAuthority LoadAuthority(AgentsOptions options, TimeProvider time) =>
        OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions
        {
            Directory = options.PkiDirectory,
            HostNames = options.HostNames,
            IpAddresses = options.IpAddresses,
        }, time);

    public async ValueTask DisposeAsync()
    {
        // The container hands this one instance out under three service types and disposes each.
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        _ca?.Dispose();
    }

    [LoggerMessage(EventId = 500, EventName = "TunnelListening", Level = LogLevel.Information,
        Message = "Agent tunnel listening on {Endpoint}; OMA certificate fingerprint {Fingerprint}")]
    private static partial void LogListening(ILogger logger, string endpoint, string fingerprint);

    [LoggerMessage(EventId = 501, EventName = "TunnelDisabled", Level = LogLevel.Information, Message = "Agent tunnel disabled by configuration")]
    private static partial void LogDisabled(ILogger logger);
}
