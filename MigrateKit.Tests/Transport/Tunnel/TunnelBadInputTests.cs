using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

// One server per fixture shared by all cases (real sockets; the healthy agent must keep working across them).
[NonParallelizable]
[Category(TestKind.Unit)]
public class TunnelBadInputTests
{
    private TunnelTestEnvironment _env = null!;
    private TunnelClient _healthy = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _env = new TunnelTestEnvironment(new TunnelServerOptions
        {
            ListenAddress = IPAddress.Loopback,
            Port = 0,
            HandshakeTimeout = TimeSpan.FromMilliseconds(400),
        });
        _healthy = await _env.ConnectAgentAsync("agent-healthy");
    }

    [OneTimeTearDown]
    public async Task StopAsync() => await _env.DisposeAsync();

    [TearDown]
    public async Task HealthyAgentStillWorksAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var stream = await _healthy.OpenStreamAsync("echo", cts.Token);
        var data = new byte[300_000];
        Random.Shared.NextBytes(data);
        Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, data, cts.Token), Is.EqualTo(data));
        Assert.That(_env.Server.IsConnected("agent-healthy"), Is.True);
    }

    [Test]
    public async Task PlainTcpGarbageIsDropped()
    {
        var garbage = new byte[2048];
        new Random(7).NextBytes(garbage);
        garbage[0] = 0x16; // looks like a TLS record at first glance
        await AssertPlainPeerDroppedAsync(garbage);
        await _env.Logs.WaitForAsync(l => l.Contains("rejected: TLS handshake failed"), TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task PlainHttpRequestIsDropped()
    {
        await AssertPlainPeerDroppedAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: oma\r\n\r\n"));
        await _env.Logs.WaitForAsync(l => l.Contains("rejected: TLS handshake failed"), TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task PeerThatNeverFinishesTheHandshakeTimesOut()
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _env.Port);
        var started = DateTime.UtcNow;
        var n = await ReadUntilClosedAsync(new NetworkStream(socket), TimeSpan.FromSeconds(5));
        Assert.That(n, Is.Zero);
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(4)));
        await _env.Logs.WaitForAsync(l => l.Contains("TLS handshake not completed within 0.4 s"), TimeSpan.FromSeconds(5));
    }

    [Test]
    public async Task TlsClientWithoutCertificateGetsAReason()
    {
        await using var ssl = await ConnectRawAsync(certificate: null);
        var reason = await ReadGoAwayReasonAsync(ssl);
        Assert.That(reason, Does.Contain("client certificate issued by the OMA CA is required"));
    }

    [Test]
    public async Task SelfSignedCertificateIsRefused()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=agent-healthy", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.2")], true));
        using var selfSigned = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));

        // TLS 1.3: the client may finish before the server rejects its certificate; either way it is cut off.
        try
        {
            await using var ssl = await ConnectRawAsync(selfSigned);
            var buffer = new byte[256];
            Assert.That(await ssl.ReadAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(5)), Is.Zero);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException)
        {
            // Refused during the handshake.
        }

        await _env.Logs.WaitForAsync(l => l.Contains("not issued by the OMA CA"), TimeSpan.FromSeconds(5));
        Assert.That(_env.Server.Agents.Select(a => a.AgentName), Is.EqualTo(new[] { "agent-healthy" }));
    }

    [Test]
    public async Task RevokedAgentIsRefusedWithAReason()
    {
        var (certificate, issued) = _env.Pki.IssueAgent("agent-revoked");
        _env.Authorizer.Allow(issued);
        _env.Authorizer.Revoke("agent-revoked");
        await using var ssl = await ConnectRawAsync(certificate);
        var reason = await ReadGoAwayReasonAsync(ssl);
        Assert.That(reason, Does.Contain("agent 'agent-revoked' revoked"));
        Assert.That(_env.Server.IsConnected("agent-revoked"), Is.False);
    }

    [TestCase("unknown-type", "unknown frame type 42")]
    [TestCase("oversized", "invalid payload length")]
    [TestCase("unknown-stream", "frame for unknown stream 99")]
    [TestCase("stream-zero-data", "Data frame on stream 0")]
    [TestCase("window-violation", "exceeded the flow-control window")]
    public async Task MalformedFramesCloseOnlyThatConnection(string kind, string expectedReason)
    {
        var name = "agent-bad-" + kind;
        var (certificate, issued) = _env.Pki.IssueAgent(name);
        _env.Authorizer.Allow(issued);
        await using var ssl = await ConnectRawAsync(certificate);
        byte[] frame = kind switch
        {
            "unknown-type" => Header(42, 1, 0),
            "oversized" => Header((byte)TunnelFrameType.Data, 1, 64 * 1024 * 1024),
            "unknown-stream" => [.. Header((byte)TunnelFrameType.Data, 99, 3), 1, 2, 3],
            "stream-zero-data" => [.. Header((byte)TunnelFrameType.Data, 0, 1), 1],
            "window-violation" => WindowViolation(),
            _ => throw new ArgumentOutOfRangeException(nameof(kind)),
        };
        // Write concurrently with reading: the server may cut us off before the whole burst is written.
        var write = Task.Run(async () =>
        {
            try
            {
                await ssl.WriteAsync(frame);
            }
            catch (IOException)
            {
                // Closed by the server mid-burst: expected for the flow-control case.
            }
        });
        var reason = await ReadGoAwayReasonAsync(ssl);
        await write;
        Assert.That(reason, Does.Contain(expectedReason));
        await _env.Logs.WaitForAsync(l => l.Contains("protocol violation") && l.Contains(expectedReason), TimeSpan.FromSeconds(5));
    }

    /// <summary>Opens stream 1 to "sink" (which reads slowly) and sends past the 4 MiB stream window in one go.</summary>
    private static byte[] WindowViolation()
    {
        var open = new List<byte>(Header((byte)TunnelFrameType.Open, 1, 5 + 4));
        open.AddRange([0, 1, 0, 0, 4, .. "echo"u8.ToArray()]);
        // Do not wait for OPEN_ACK: send 9 MiB in 128 KiB frames; the connection window (1 MiB initial +
        // the server's grant) or the 4 MiB stream window is exceeded either way.
        var data = new byte[TunnelWire.MaxDataPayload];
        var frames = new List<byte>(open);
        for (var i = 0; i < 72; i++)
        {
            frames.AddRange(Header((byte)TunnelFrameType.Data, 1, data.Length));
            frames.AddRange(data);
        }

        return [.. frames];
    }

    private static byte[] Header(byte type, uint stream, int length)
    {
        var header = new byte[TunnelWire.HeaderSize];
        TunnelWire.WriteHeader(header, TunnelFrameType.Data, stream, length);
        header[TunnelWire.TypeOffset] = type;
        return header;
    }

    private async Task AssertPlainPeerDroppedAsync(byte[] bytes)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _env.Port);
        await socket.SendAsync(bytes);
        var stream = new NetworkStream(socket);
        await ReadUntilClosedAsync(stream, TimeSpan.FromSeconds(5));
    }

    /// <summary>Reads until the server closes; fails the test if it does not within the timeout.</summary>
    private static async Task<long> ReadUntilClosedAsync(Stream stream, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        long total = 0;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, cts.Token)) > 0)
            {
                total += n;
            }
        }
        catch (IOException)
        {
            // Reset by the server: closed as well.
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"the server did not close the connection within {timeout}");
        }

        return total;
    }

    private async Task<SslStream> ConnectRawAsync(X509Certificate2? certificate)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _env.Port);
        var ssl = new SslStream(new NetworkStream(socket, ownsSocket: true));
        var ca = _env.Pki.Ca.CaCertificate;
        await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            EnabledSslProtocols = SslProtocols.Tls13,
            ApplicationProtocols = [new SslApplicationProtocol(TunnelWire.TunnelAlpn)],
            ClientCertificateContext = certificate is null ? null : SslStreamCertificateContext.Create(certificate, null, offline: true),
            RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null,
        });
        return ssl;
    }

    /// <summary>Reads frames until the server closes and returns the GOAWAY message it sent.</summary>
    private static async Task<string> ReadGoAwayReasonAsync(SslStream ssl)
    {
        var received = new MemoryStream();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        try
        {
            int n;
            while ((n = await ssl.ReadAsync(buffer, cts.Token)) > 0)
            {
                received.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            // The server may reset after its GOAWAY.
        }

        var sequence = new ReadOnlySequence<byte>(received.ToArray());
        while (true)
        {
            var consumed = sequence.Start;
            var examined = sequence.Start;
            if (!TunnelWire.TryParse(sequence, TunnelWire.DefaultMaxFramePayload, ref consumed, ref examined, out var frame))
            {
                Assert.Fail($"no GOAWAY among {received.Length} bytes from the server");
            }

            if (frame.Type == TunnelFrameType.GoAway)
            {
                var payload = frame.Payload.ToArray();
                Assert.That(BinaryPrimitives.ReadUInt32BigEndian(payload.AsSpan(4)), Is.Not.Zero, "a refusal carries an error code");
                return Encoding.UTF8.GetString(payload, 8, payload.Length - 8);
            }

            sequence = sequence.Slice(consumed);
        }
    }
}
