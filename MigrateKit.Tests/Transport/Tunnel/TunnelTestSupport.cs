using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Tests.Transport.Tunnel;

/// <summary>Authorizer over an in-memory agent table (the DB-backed one belongs to the Agents module).</summary>
internal sealed class InMemoryAgentAuthorizer : IAgentAuthorizer
{
    private readonly ConcurrentDictionary<string, string> _agentsByFingerprint = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _revoked = new(StringComparer.Ordinal);

    public void Allow(IssuedAgentCertificate issued) => _agentsByFingerprint[issued.Fingerprint.ToHex()] = issued.AgentName;

    public void Revoke(string agentName) => _revoked[agentName] = "revoked by the operator";

    public ValueTask<AgentAuthorization> AuthorizeAsync(AgentCertificateInfo certificate, CancellationToken cancellationToken)
    {
        if (!_agentsByFingerprint.TryGetValue(certificate.Fingerprint.ToHex(), out var name))
        {
            return ValueTask.FromResult(AgentAuthorization.Deny("unknown agent certificate"));
        }

        return ValueTask.FromResult(_revoked.TryGetValue(name, out var why) ? AgentAuthorization.Deny($"agent '{name}' {why}") : AgentAuthorization.Allow(name));
    }
}

/// <summary>One-time tokens with expiry (TimeProvider), as vma_enrollment_tokens will hold them.</summary>
internal sealed class InMemoryEnrollmentAuthority(TimeProvider time, InMemoryAgentAuthorizer? authorizer = null) : IEnrollmentAuthority
{
    private readonly ConcurrentDictionary<string, (string Agent, DateTimeOffset Expires)> _tokens = new(StringComparer.Ordinal);

    public ConcurrentBag<IssuedAgentCertificate> Issued { get; } = [];

    public void AddToken(string token, string agentName, TimeSpan lifetime) => _tokens[token] = (agentName, time.GetUtcNow() + lifetime);

    public ValueTask<EnrollmentDecision> RedeemTokenAsync(string token, string? requestedAgentName, CancellationToken cancellationToken)
    {
        if (!_tokens.TryRemove(token, out var entry))
        {
            return ValueTask.FromResult(EnrollmentDecision.Reject("unknown or already used enrollment token"));
        }

        if (time.GetUtcNow() >= entry.Expires)
        {
            return ValueTask.FromResult(EnrollmentDecision.Reject("enrollment token expired"));
        }

        if (requestedAgentName is not null && requestedAgentName != entry.Agent)
        {
            return ValueTask.FromResult(EnrollmentDecision.Reject("token issued for another agent name"));
        }

        return ValueTask.FromResult(EnrollmentDecision.Accept(entry.Agent));
    }

    public ValueTask RecordIssuedAsync(IssuedAgentCertificate issued, CancellationToken cancellationToken)
    {
        Issued.Add(issued);
        authorizer?.Allow(issued);
        return ValueTask.CompletedTask;
    }
}

/// <summary>Collects log lines so tests can assert that a refusal carried its reason.</summary>
internal sealed class CollectingLoggerProvider : ILoggerProvider, ILoggerFactory
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public ILogger CreateLogger(string categoryName) => new Logger(_lines);

    public void AddProvider(ILoggerProvider provider)
    {
    }

    public void Dispose()
    {
    }

    public async Task<string> WaitForAsync(Func<string, bool> match, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            var hit = _lines.FirstOrDefault(match);
            if (hit is not null)
            {
                return hit;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"no log line matched within {timeout}; lines:\n{string.Join('\n', _lines)}");
        return "";
    }

    private sealed class Logger(ConcurrentQueue<string> lines) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Information;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                lines.Enqueue($"{logLevel}: {formatter(state, exception)}");
            }
        }
    }
}

/// <summary>A CA in a temp directory plus helpers to make agent keys and certificates.</summary>
internal sealed class TestPki : IDisposable
{
    public TestPki()
    {
        Directory = Path.Combine(Path.GetTempPath(), "mk-tunnel-" + Guid.NewGuid().ToString("N"));
        Ca = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = Path.Combine(Directory, "oma"), HostNames = ["localhost"], IpAddresses = [IPAddress.Loopback] }, TimeProvider.System);
    }

    public string Directory { get; }

    public OmaCertificateAuthority Ca { get; }

    public (X509Certificate2 Certificate, IssuedAgentCertificate Issued) IssueAgent(string name)
    {
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem();
        var issued = Ca.SignAgentRequest(csr, name);
        return (issued.Certificate.CopyWithPrivateKey(key), issued);
    }

    public void Dispose()
    {
        Ca.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

/// <summary>An OMA tunnel server and agents on 127.0.0.1 with real TLS.</summary>
internal sealed class TunnelTestEnvironment : IAsyncDisposable
{
    private readonly List<TunnelClient> _clients = [];

    public TunnelTestEnvironment(TunnelServerOptions? options = null, bool enrollment = false, TunnelConnectionOptions? connection = null)
    {
        Authorizer = new InMemoryAgentAuthorizer();
        Enrollment = new InMemoryEnrollmentAuthority(TimeProvider.System, Authorizer);
        ServerServices = new TunnelServiceRegistry();
        ServerServices.Register("echo", EchoAsync);
        ServerServices.Register("sink", SinkAsync);
        Server = new TunnelServer(
            options ?? new TunnelServerOptions { ListenAddress = IPAddress.Loopback, Port = 0, HandshakeTimeout = TimeSpan.FromSeconds(5), Connection = connection ?? new() },
            Pki.Ca, ServerServices, Authorizer, enrollment ? Enrollment : null, Logs, TimeProvider.System);
        Server.Start();
    }

    public TestPki Pki { get; } = new();

    public CollectingLoggerProvider Logs { get; } = new();

    public InMemoryAgentAuthorizer Authorizer { get; }

    public InMemoryEnrollmentAuthority Enrollment { get; }

    public TunnelServiceRegistry ServerServices { get; }

    public TunnelServer Server { get; }

    public int Port => Server.LocalEndPoint.Port;

    public async Task<TunnelClient> ConnectAgentAsync(string name, TunnelServiceRegistry? services = null, int connections = 1, TunnelConnectionOptions? connection = null)
    {
        var (certificate, issued) = Pki.IssueAgent(name);
        Authorizer.Allow(issued);
        var client = new TunnelClient(new TunnelClientOptions
        {
            Host = "127.0.0.1",
            Port = Port,
            ClientCertificate = certificate,
            CaCertificate = Pki.Ca.CaCertificate,
            Connections = connections,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(50),
            ReconnectMaxDelay = TimeSpan.FromMilliseconds(400),
            Connection = connection ?? new TunnelConnectionOptions(),
        }, services ?? new TunnelServiceRegistry(), Logs, TimeProvider.System);
        _clients.Add(client);
        client.Start();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await client.WaitConnectedAsync(timeout.Token);
        Assert.That(Server.IsConnected(name), Is.True, "the client reports connected only after the OMA authorized it");
        return client;
    }

    /// <summary>Echoes everything until the peer half-closes.</summary>
    public static async Task EchoAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                await stream.WriteAsync(buffer.AsMemory(0, n), cancellationToken);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Reads until the peer half-closes, then answers with the byte count (8 bytes, big-endian).</summary>
    public static async Task SinkAsync(Stream stream, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(256 * 1024);
        long total = 0;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var answer = new byte[8];
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(answer, total);
        await stream.WriteAsync(answer, cancellationToken);
    }

    /// <summary>Sends <paramref name="data"/> through an echo stream and returns what came back.</summary>
    public static async Task<byte[]> EchoRoundTripAsync(TunnelStream stream, byte[] data, CancellationToken cancellationToken)
    {
        var writer = Task.Run(async () =>
        {
            for (var offset = 0; offset < data.Length;)
            {
                var chunk = Math.Min(data.Length - offset, 1 + Random.Shared.Next(200_000));
                await stream.WriteAsync(data.AsMemory(offset, chunk), cancellationToken);
                offset += chunk;
            }

            stream.CompleteWrites();
        }, cancellationToken);
        var received = new MemoryStream(data.Length);
        await stream.CopyToAsync(received, cancellationToken);
        await writer;
        return received.ToArray();
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }

        await Server.DisposeAsync();
        Pki.Dispose();
    }
}
