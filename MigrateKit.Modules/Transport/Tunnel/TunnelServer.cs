using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Pki;

namespace MigrateKit.Modules.Transport.Tunnel;

public sealed record TunnelServerOptions
{
    /// <summary>Default 0.0.0.0 (the OMA listens for agents on every interface); tests use 127.0.0.1.</summary>
    public IPAddress ListenAddress { get; init; } = IPAddress.Any;

    /// <summary>Default 443; 0 picks a free port (tests).</summary>
    public int Port { get; init; } = 443;

    /// <summary>A peer that has not finished TLS (and ALPN) in this time is dropped.</summary>
    public TimeSpan HandshakeTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Upper bound for one whole enrollment exchange.</summary>
    public TimeSpan EnrollmentTimeout { get; init; } = TimeSpan.FromSeconds(30);

    public TunnelConnectionOptions Connection { get; init; } = new();
}

/// <summary>One connected agent as the OMA sees it (all its pooled connections together).</summary>
public sealed record ConnectedAgent(
    string AgentName,
    EndPoint? RemoteEndPoint,
    DateTimeOffset ConnectedSince,
    int Connections,
    int ActiveStreams,
    long StreamsOpened,
    string CertificateFingerprint);

/// <summary>
/// The OMA end: accepts agents on port 443 (TLS 1.3, mutual certificates, ALPN
/// <c>migratekit-tunnel/1</c>), and enrollments on the same port under ALPN <c>migratekit-enroll/1</c>.
/// A tunnel client certificate must chain to the OMA CA (the only trust anchor) and be accepted by
/// the <see cref="IAgentAuthorizer"/>; refusals are logged with their reason and, where TLS is up,
/// sent to the peer in a GOAWAY.
/// </summary>
public sealed class TunnelServer : IAsyncDisposable
{
    private readonly TunnelServerOptions _options;
    private readonly OmaCertificateAuthority _ca;
    private readonly TunnelServiceRegistry _services;
    private readonly IAgentAuthorizer _authorizer;
    private readonly EnrollmentService? _enrollment;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly SslStreamCertificateContext _serverContext;
    private readonly ConcurrentDictionary<TunnelConnection, AgentSession> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _acceptLoop;

    public TunnelServer(TunnelServerOptions options, OmaCertificateAuthority ca, TunnelServiceRegistry services,
        IAgentAuthorizer authorizer, IEnrollmentAuthority? enrollment, ILoggerFactory loggers, TimeProvider time)
    {
        options.Connection.Validate();
        _options = options;
        _ca = ca;
        _services = services;
        _authorizer = authorizer;
        _logger = loggers.CreateLogger("MigrateKit.Transport.Tunnel.Server");
        _enrollment = enrollment is null ? null : new EnrollmentService(ca, enrollment, _logger);
        _time = time;
        _serverContext = SslStreamCertificateContext.Create(ca.ServerCertificate, [ca.CaCertificate], offline: true);
    }

    public IPEndPoint LocalEndPoint => (IPEndPoint)(_listener?.LocalEndPoint ?? throw new InvalidOperationException("the tunnel server is not started"));

    /// <summary>Binds the listener and starts accepting.</summary>
    public void Start()
    {
        var listener = new Socket(_options.ListenAddress.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(_options.ListenAddress, _options.Port));
            listener.Listen(512);
        }
        catch
        {
            listener.Dispose();
            throw;
        }

        _listener = listener;
        TunnelLog.Listening(_logger, listener.LocalEndPoint!);
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IReadOnlyList<ConnectedAgent> Agents =>
        [.. _sessions
            .GroupBy(s => s.Value.AgentName, StringComparer.Ordinal)
            .Select(g => new ConnectedAgent(
                g.Key,
                g.First().Value.Remote,
                g.Min(s => s.Key.ConnectedSince),
                g.Count(),
                g.Sum(s => s.Key.ActiveStreams),
                g.Sum(s => s.Key.StreamsOpened),
                g.First().Value.Fingerprint))
            .OrderBy(a => a.AgentName, StringComparer.Ordinal)];

    public bool IsConnected(string agentName) => _sessions.Values.Any(s => s.AgentName == agentName);

    /// <summary>Closes every live connection of the agent (revocation); returns how many were closed.</summary>
    public int DisconnectAgent(string agentName, string reason)
    {
        var count = 0;
        foreach (var (connection, session) in _sessions)
        {
            if (session.AgentName == agentName)
            {
                if (count == 0)
                {
                    TunnelLog.AgentDisconnecting(_logger, agentName, reason);
                }

                connection.Abort(TunnelErrorCode.Unauthorized, reason);
                count++;
            }
        }

        return count;
    }

    /// <summary>Waits until the agent's connection(s) are gone (after <see cref="DisconnectAgent"/>).</summary>
    public async Task WaitDisconnectedAsync(string agentName, CancellationToken cancellationToken)
    {
        var closing = _sessions.Where(s => s.Value.AgentName == agentName).Select(s => s.Value.Removed).ToArray();
        await Task.WhenAll(closing).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a stream from the OMA to a service of the agent (e.g. <c>vma-api</c>).</summary>
    public async Task<TunnelStream> OpenStreamAsync(string agentName, string service, CancellationToken cancellationToken)
    {
        var candidates = _sessions
            .Where(s => s.Value.AgentName == agentName && !s.Key.IsDraining)
            .Select(s => s.Key)
            .OrderBy(c => c.ActiveStreams)
            .ToList();
        foreach (var connection in candidates)
        {
            try
            {
                return await connection.OpenStreamAsync(service, cancellationToken).ConfigureAwait(false);
            }
            catch (TunnelUnavailableException)
            {
                // Closed under us: try the agent's next connection.
            }
        }

        throw new TunnelUnavailableException($"agent '{agentName}' is not connected");
    }

    private async Task AcceptLoopAsync()
    {
        var listener = _listener!;
        while (!_stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            catch (ObjectDisposedException)
            {
                break;
            }
            catch (SocketException ex)
            {
                TunnelLog.ConnectionRejected(_logger, null, $"accept failed: {ex.SocketErrorCode}");
                continue;
            }

            socket.NoDelay = true;
            _ = Task.Run(() => HandleConnectionAsync(socket));
        }
    }

    private async Task HandleConnectionAsync(Socket socket)
    {
        var remote = socket.RemoteEndPoint;
        var socketStream = new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
        var ssl = new SslStream(socketStream, leaveInnerStreamOpen: false);
        var handedOff = false;
        try
        {
            string? certificateError = null;
            X509Certificate2? clientCertificate = null;
            var tls = new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _serverContext,
                ClientCertificateRequired = true,
                EnabledSslProtocols = SslProtocols.Tls13,
                CipherSuitesPolicy = TunnelTls.CipherSuites,
                ApplicationProtocols = [new SslApplicationProtocol(TunnelWire.TunnelAlpn), new SslApplicationProtocol(TunnelWire.EnrollAlpn)],
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        return true; // allowed for enrollment only; checked against the ALPN below
                    }

                    var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    certificateError = TlsValidation.Validate(presented, _ca.CaCertificate, TlsOids.ClientAuth, _time.GetUtcNow());
                    if (certificateError is null)
                    {
                        clientCertificate = presented;
                        return true;
                    }

                    presented.Dispose();
                    return false;
                },
            };

            using (var handshake = new Deadline(_options.HandshakeTimeout, _time, _stopping.Token))
            {
                try
                {
                    await ssl.AuthenticateAsServerAsync(tls, handshake.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
                {
                    TunnelLog.ConnectionRejected(_logger, remote, $"TLS handshake not completed within {_options.HandshakeTimeout.TotalSeconds:0.###} s");
                    return;
                }
                catch (Exception ex) when (ex is AuthenticationException or IOException)
                {
                    TunnelLog.ConnectionRejected(_logger, remote, certificateError ?? $"TLS handshake failed: {Describe(ex)}");
                    return;
                }
            }

            var alpn = ssl.NegotiatedApplicationProtocol.ToString();
            if (alpn == TunnelWire.EnrollAlpn)
            {
                await HandleEnrollmentAsync(ssl, remote).ConfigureAwait(false);
                return;
            }

            if (alpn != TunnelWire.TunnelAlpn)
            {
                TunnelLog.ConnectionRejected(_logger, remote, $"unsupported application protocol '{alpn}' (expected {TunnelWire.TunnelAlpn})");
                return;
            }

            if (clientCertificate is null)
            {
                await RejectAsync(ssl, remote, TunnelErrorCode.Unauthorized, "a client certificate issued by the OMA CA is required").ConfigureAwait(false);
                return;
            }

            var info = new AgentCertificateInfo(
                CertificateFingerprint.Of(clientCertificate),
                clientCertificate.SerialNumber,
                clientCertificate.Subject,
                clientCertificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false),
                clientCertificate.NotAfter.ToUniversalTime(),
                remote);
            clientCertificate.Dispose();

            AgentAuthorization decision;
            using (var authorizing = new Deadline(_options.HandshakeTimeout, _time, _stopping.Token))
            {
                try
                {
                    decision = await _authorizer.AuthorizeAsync(info, authorizing.Token).ConfigureAwait(false);
                }
                catch (Exception ex) when (!_stopping.IsCancellationRequested)
                {
                    // E.g. the database is unreachable: refuse this attempt, the agent retries with backoff.
                    decision = AgentAuthorization.Deny($"authorization unavailable ({ex.GetType().Name}: {ex.Message})");
                }
            }

            if (!decision.Allowed || decision.AgentName is null)
            {
                await RejectAsync(ssl, remote, TunnelErrorCode.Unauthorized, $"agent certificate {info.Fingerprint} refused: {decision.Reason ?? "not authorized"}").ConfigureAwait(false);
                return;
            }

            var connection = new TunnelConnection(ssl, isDialer: false, $"{decision.AgentName}@{remote}", _services, _options.Connection, _logger, _time, socketStream);
            var session = new AgentSession(decision.AgentName, remote, info.Fingerprint.ToString());
            _sessions[connection] = session;
            handedOff = true;
            session.Removed = connection.Closed.ContinueWith(_ => _sessions.TryRemove(connection, out AgentSession? _), TaskScheduler.Default);
            connection.Start();
            TunnelLog.AgentConnected(_logger, decision.AgentName, remote, info.Fingerprint.ToString());
        }
        catch (Exception ex)
        {
            // Never let one peer's setup failure escape the handler (or the process).
            TunnelLog.ConnectionRejected(_logger, remote, $"connection failed during setup: {ex.GetType().Name}: {ex.Message}");
        }
        finally
        {
            if (!handedOff)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private async Task HandleEnrollmentAsync(SslStream ssl, EndPoint? remote)
    {
        if (_enrollment is null)
        {
            TunnelLog.ConnectionRejected(_logger, remote, "enrollment is not enabled on this OMA");
            return;
        }

        using var timeout = new Deadline(_options.EnrollmentTimeout, _time, _stopping.Token);
        try
        {
            await _enrollment.HandleAsync(ssl, remote, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested)
        {
            TunnelLog.EnrollmentRejected(_logger, remote, $"enrollment not completed within {_options.EnrollmentTimeout.TotalSeconds:0} s");
        }
    }

    /// <summary>Sends one GOAWAY frame carrying the reason, then closes: the agent logs why it was refused.</summary>
    private async Task RejectAsync(SslStream ssl, EndPoint? remote, TunnelErrorCode code, string reason)
    {
        TunnelLog.ConnectionRejected(_logger, remote, reason);
        var text = Encoding.UTF8.GetBytes(reason.Length > 500 ? reason[..500] : reason);
        var frame = new byte[TunnelWire.HeaderSize + 8 + text.Length];
        TunnelWire.WriteHeader(frame, TunnelFrameType.GoAway, 0, 8 + text.Length);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(TunnelWire.HeaderSize), 0);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(TunnelWire.HeaderSize + 4), (uint)code);
        text.CopyTo(frame, TunnelWire.HeaderSize + 8);
        using var timeout = new Deadline(TimeSpan.FromSeconds(2), _time, CancellationToken.None);
        try
        {
            await ssl.WriteAsync(frame, timeout.Token).ConfigureAwait(false);
            await ssl.ShutdownAsync().ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer is gone already; the reason is logged.
        }
    }

    private static string Describe(Exception ex) => ex.InnerException is null ? ex.Message : $"{ex.Message} ({ex.InnerException.Message})";

    /// <summary>Graceful stop: GOAWAY to every agent, bounded drain, then close.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        await Task.WhenAll(_sessions.Keys.Select(c => c.ShutdownAsync("OMA shutting down", cancellationToken))).ConfigureAwait(false);
        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener?.Dispose();
        foreach (var connection in _sessions.Keys)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        if (_acceptLoop is not null)
        {
            await _acceptLoop.ConfigureAwait(false);
        }

        _stopping.Dispose();
    }

    private sealed record AgentSession(string AgentName, EndPoint? Remote, string Fingerprint)
    {
        public Task Removed { get; set; } = Task.CompletedTask;
    }
}
