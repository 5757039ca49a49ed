using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Pki;

namespace MigrateKit.Modules.Transport.Tunnel;

public sealed record TunnelClientOptions
{
    public required string Host { get; init; }

    public int Port { get; init; } = 443;

    /// <summary>The agent's certificate with its private key (issued by enrollment).</summary>
    public required X509Certificate2 ClientCertificate { get; init; }

    /// <summary>The OMA CA: the only trust anchor for the server certificate.</summary>
    public required X509Certificate2 CaCertificate { get; init; }

    /// <summary>TLS connections kept open; streams are spread over them.</summary>
    public int Connections { get; init; } = 1;

    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(15);

    public TimeSpan ReconnectInitialDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan ReconnectMaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    public TunnelConnectionOptions Connection { get; init; } = new();
}

public enum TunnelClientState
{
    Stopped,
    Connecting,
    Connected,
}

/// <summary>
/// The agent end: dials the OMA, keeps <see cref="TunnelClientOptions.Connections"/> TLS connections
/// up (each slot reconnects by itself with jittered exponential backoff), serves the services in its
/// registry to the OMA, and opens streams to the OMA's services.
/// </summary>
public sealed class TunnelClient : IAsyncDisposable
{
    private readonly TunnelClientOptions _options;
    private readonly TunnelServiceRegistry _services;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly TunnelConnection?[] _slots;
    private readonly object _sync = new();
    private readonly AsyncPulse _connectedPulse = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly SslStreamCertificateContext _clientContext;
    private static readonly TimeSpan StableConnection = TimeSpan.FromSeconds(30);
    private Task[] _loops = [];
    private string? _lastError;

    public TunnelClient(TunnelClientOptions options, TunnelServiceRegistry services, ILoggerFactory loggers, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Connections, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.Connections, 64);
        options.Connection.Validate();
        if (!options.ClientCertificate.HasPrivateKey)
        {
            throw new ArgumentException("the agent certificate has no private key", nameof(options));
        }

        _options = options;
        _services = services;
        _logger = loggers.CreateLogger("MigrateKit.Transport.Tunnel.Client");
        _time = time;
        _slots = new TunnelConnection?[options.Connections];
        _clientContext = SslStreamCertificateContext.Create(options.ClientCertificate, additionalCertificates: null, offline: true);
    }

    /// <summary>Raised (on a pool thread) whenever <see cref="State"/> may have changed.</summary>
    public event Action<TunnelClientState>? StateChanged;

    public TunnelClientState State
    {
        get
        {
            if (_stopping.IsCancellationRequested || _loops.Length == 0)
            {
                return TunnelClientState.Stopped;
            }

            return ConnectedCount > 0 ? TunnelClientState.Connected : TunnelClientState.Connecting;
        }
    }

    public int ConnectedCount
    {
        get
        {
            lock (_sync)
            {
                return _slots.Count(c => c is { IsClosed: false });
            }
        }
    }

    /// <summary>Why the last connection attempt or connection ended (no secrets).</summary>
    public string? LastError => Volatile.Read(ref _lastError);

    public void Start()
    {
        if (_loops.Length != 0)
        {
            throw new InvalidOperationException("already started");
        }

        _loops = [.. Enumerable.Range(0, _slots.Length).Select(slot => Task.Run(() => SlotLoopAsync(slot)))];
    }

    /// <summary>Waits until at least one connection is up.</summary>
    public async Task WaitConnectedAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (_sync)
            {
                if (_slots.Any(c => c is { IsClosed: false, IsDraining: false }))
                {
                    return;
                }

                wait = _connectedPulse.GetWaitTask();
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Opens a stream to an OMA service on the least busy connection, waiting for one if needed.</summary>
    public async Task<TunnelStream> OpenStreamAsync(string service, CancellationToken cancellationToken)
    {
        for (var attempt = 0; ; attempt++)
        {
            ObjectDisposedException.ThrowIf(_stopping.IsCancellationRequested, this);
            await WaitConnectedAsync(cancellationToken).ConfigureAwait(false);
            TunnelConnection? best;
            lock (_sync)
            {
                best = _slots.Where(c => c is { IsClosed: false, IsDraining: false }).MinBy(c => c!.ActiveStreams);
            }

            if (best is null)
            {
                continue;
            }

            try
            {
                return await best.OpenStreamAsync(service, cancellationToken).ConfigureAwait(false);
            }
            catch (TunnelUnavailableException) when (attempt < 8)
            {
                // The connection closed between picking and opening: pick again.
            }
        }
    }

    private async Task SlotLoopAsync(int slot)
    {
        var failures = 0;
        var remote = $"{_options.Host}:{_options.Port}";
        while (!_stopping.IsCancellationRequested)
        {
            string reason;
            try
            {
                var connection = await ConnectAsync(slot, _stopping.Token).ConfigureAwait(false);
                lock (_sync)
                {
                    _slots[slot] = connection;
                    _connectedPulse.Pulse();
                }

                TunnelLog.ClientConnected(_logger, remote, slot);
                StateChanged?.Invoke(State);
                reason = await connection.Closed.ConfigureAwait(false);
                lock (_sync)
                {
                    _slots[slot] = null;
                }

                // A connection that is cut right away (e.g. the agent was revoked) still backs off.
                failures = _time.GetUtcNow() - connection.ConnectedSince > StableConnection ? 0 : failures + 1;

                StateChanged?.Invoke(State);
            }
            catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                // Whatever went wrong, the slot keeps trying: the agent must come back by itself.
                reason = ex is OperationCanceledException ? $"no connection within {_options.ConnectTimeout.TotalSeconds:0.#} s" : ex.Message;
                failures++;
            }

            Volatile.Write(ref _lastError, reason);
            if (_stopping.IsCancellationRequested)
            {
                break;
            }

            var delay = Backoff(failures);
            TunnelLog.ClientConnectFailed(_logger, remote, slot, delay, reason);
            try
            {
                await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>Full jitter in [d/2, d], d = initial·2^failures capped at the maximum.</summary>
    private TimeSpan Backoff(int failures)
    {
        var exponent = Math.Min(Math.Max(failures - 1, 0), 20);
        var ticks = Math.Min(_options.ReconnectInitialDelay.Ticks * (1L << exponent), _options.ReconnectMaxDelay.Ticks);
        return TimeSpan.FromTicks(ticks / 2 + Random.Shared.NextInt64(ticks / 2 + 1));
    }

    private async Task<TunnelConnection> ConnectAsync(int slot, CancellationToken cancellationToken)
    {
        using var timeout = new Deadline(_options.ConnectTimeout, _time, cancellationToken);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        SslStream? ssl = null;
        try
        {
            await socket.ConnectAsync(_options.Host, _options.Port, timeout.Token).ConfigureAwait(false);
            var socketStream = new ReadAheadStream(new NetworkStream(socket, ownsSocket: true));
            ssl = new SslStream(socketStream, leaveInnerStreamOpen: false);
            string? serverError = null;
            await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = _options.Host,
                EnabledSslProtocols = SslProtocols.Tls13,
                CipherSuitesPolicy = TunnelTls.CipherSuites,
                ApplicationProtocols = [new SslApplicationProtocol(TunnelWire.TunnelAlpn)],
                ClientCertificateContext = _clientContext,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                // The OMA CA issues exactly one serverAuth certificate (the OMA's), so CA + EKU pins the
                // OMA; the host name is not checked because agents often reach the OMA through NAT.
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    if (certificate is null)
                    {
                        serverError = "the OMA sent no certificate";
                        return false;
                    }

                    using var presented = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                    serverError = TlsValidation.Validate(presented, _options.CaCertificate, TlsOids.ServerAuth, _time.GetUtcNow());
                    return serverError is null;
                },
            }, timeout.Token).ConfigureAwait(false);

            if (ssl.NegotiatedApplicationProtocol.ToString() != TunnelWire.TunnelAlpn)
            {
                throw new AuthenticationException($"the server does not speak {TunnelWire.TunnelAlpn}");
            }

            var connection = new TunnelConnection(ssl, isDialer: true, $"oma@{_options.Host}:{_options.Port}#{slot}", _services, _options.Connection, _logger, _time, socketStream);
            connection.Start();
            try
            {
                // TLS 1.3 lets the client finish first; wait for the OMA's first frame (or its refusal).
                await connection.Ready.WaitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch
            {
                await connection.DisposeAsync().ConfigureAwait(false);
                throw;
            }

            return connection;
        }
        catch (AuthenticationException ex) when (ssl is not null)
        {
            await ssl.DisposeAsync().ConfigureAwait(false);
            throw new AuthenticationException($"TLS with the OMA failed: {ex.Message}", ex);
        }
        catch
        {
            if (ssl is not null)
            {
                await ssl.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                socket.Dispose();
            }

            throw;
        }
    }

    /// <summary>Sends GOAWAY on every connection, waits for running streams (bounded), stops reconnecting.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        TunnelConnection[] live;
        lock (_sync)
        {
            live = [.. _slots.OfType<TunnelConnection>()];
        }

        await Task.WhenAll(live.Select(c => c.ShutdownAsync("agent stopping", cancellationToken))).ConfigureAwait(false);
        await Task.WhenAll(_loops).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        TunnelConnection[] live;
        lock (_sync)
        {
            live = [.. _slots.OfType<TunnelConnection>()];
        }

        foreach (var connection in live)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        await Task.WhenAll(_loops).ConfigureAwait(false);
        _stopping.Dispose();
    }
}
