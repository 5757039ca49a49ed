using System.Net;
using System.Net.Sockets;
using System.Text;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

// Real TLS sockets on 127.0.0.1 and throughput-sensitive timing: run alone, not beside other tunnel fixtures.
[NonParallelizable]
[Category(TestKind.Unit)]
public class TunnelEndToEndTests
{
    private static CancellationToken Within(int seconds) => new CancellationTokenSource(TimeSpan.FromSeconds(seconds)).Token;

    [Test]
    public async Task HundredConcurrentStreamsEchoByteExact()
    {
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-echo", connections: 2);
        var ct = Within(90);
        var random = new Random(1234);
        var payloads = Enumerable.Range(0, 100).Select(i =>
        {
            var size = i % 10 == 0 ? random.Next(2 * 1024 * 1024, 4 * 1024 * 1024) : random.Next(0, 512 * 1024);
            var data = new byte[size];
            random.NextBytes(data);
            return data;
        }).ToArray();

        var results = await Task.WhenAll(payloads.Select(async data =>
        {
            await using var stream = await client.OpenStreamAsync("echo", ct);
            return await TunnelTestEnvironment.EchoRoundTripAsync(stream, data, ct);
        }));

        for (var i = 0; i < payloads.Length; i++)
        {
            Assert.That(results[i].AsSpan().SequenceEqual(payloads[i]), Is.True, $"stream {i} ({payloads[i].Length} bytes) differs");
        }

        var agent = env.Server.Agents.Single();
        Assert.Multiple(() =>
        {
            Assert.That(agent.AgentName, Is.EqualTo("agent-echo"));
            Assert.That(agent.Connections, Is.EqualTo(2));
            Assert.That(agent.StreamsOpened, Is.EqualTo(100));
        });
    }

    [Test]
    public async Task StreamsOpenedFromManyThreadsAtOnceKeepTheConnection()
    {
        // The peer refuses OPEN ids that are not strictly increasing; opens racing on several
        // threads, while bulk writers contend for the output lock, must still put their OPENs on
        // the wire in id order.
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-race");
        var ct = Within(60);
        using var stopWriters = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var writers = Enumerable.Range(0, 3).Select(_ => Task.Run(async () =>
        {
            await using var sink = await client.OpenStreamAsync("sink", ct);
            var chunk = new byte[256 * 1024];
            try
            {
                while (true)
                {
                    await sink.WriteAsync(chunk, stopWriters.Token);
                }
            }
            catch (OperationCanceledException) when (stopWriters.IsCancellationRequested)
            {
            }
        }, ct)).ToArray();

        var opened = 0;
        for (var round = 0; round < 20; round++)
        {
            using var start = new ManualResetEventSlim();
            var opens = Enumerable.Range(0, 16).Select(i => Task.Run(async () =>
            {
                start.Wait(ct);
                await using var stream = await client.OpenStreamAsync("echo", ct);
                return await TunnelTestEnvironment.EchoRoundTripAsync(stream, [(byte)i], ct);
            }, ct)).ToArray();
            start.Set();
            var echoed = await Task.WhenAll(opens);
            opened += opens.Length;
            Assert.That(echoed.Select(e => e.Single()), Is.EqualTo(Enumerable.Range(0, 16).Select(i => (byte)i)), $"round {round}");
        }
        await stopWriters.CancelAsync();
        await Task.WhenAll(writers);
        var agent = env.Server.Agents.Single();
        Assert.That(agent.StreamsOpened, Is.EqualTo(opened + writers.Length));
        Assert.That(agent.Connections, Is.EqualTo(1), "no connection was dropped for a protocol error");
    }

    [Test]
    public async Task StalledStreamDoesNotBlockOthers()
    {
        var options = new TunnelConnectionOptions { StreamWindow = 256 * 1024, ConnectionWindow = 2 * 1024 * 1024 };
        await using var env = new TunnelTestEnvironment(connection: options);
        var stalledOpened = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        env.ServerServices.Register("stall", async (stream, ct) =>
        {
            stalledOpened.TrySetResult();
            await release.Task.WaitAsync(ct); // never reads until released
            await TunnelTestEnvironment.SinkAsync(stream, ct);
        });
        var client = await env.ConnectAgentAsync("agent-stall", connection: options);
        var ct = Within(60);

        await using var stalled = await client.OpenStreamAsync("stall", ct);
        await stalledOpened.Task.WaitAsync(ct);
        var chunk = new byte[64 * 1024];
        var stalledWriter = Task.Run(async () =>
        {
            for (var i = 0; i < 64; i++) // 4 MiB, far beyond the stream and connection windows
            {
                await stalled.WriteAsync(chunk, ct);
            }
        }, ct);

        await Task.Delay(300, ct);
        Assert.That(stalledWriter.IsCompleted, Is.False, "the stalled stream's writer must be held back by flow control");

        // Meanwhile other streams carry far more than the connection window.
        for (var i = 0; i < 4; i++)
        {
            var data = new byte[3 * 1024 * 1024];
            Random.Shared.NextBytes(data);
            await using var other = await client.OpenStreamAsync("echo", ct);
            var echoed = await TunnelTestEnvironment.EchoRoundTripAsync(other, data, ct);
            Assert.That(echoed.AsSpan().SequenceEqual(data), Is.True);
        }

        Assert.That(stalledWriter.IsCompleted, Is.False);
        release.SetResult();
        await stalledWriter;
        stalled.CompleteWrites();
        var count = new byte[8];
        await stalled.ReadExactlyAsync(count, ct);
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(count), Is.EqualTo(64 * 64 * 1024));
    }

    [Test]
    public async Task OmaOpensStreamsToTheAgentAndRunsHttpOverThem()
    {
        await using var env = new TunnelTestEnvironment();
        var agentServices = new TunnelServiceRegistry()
            .Register("echo", TunnelTestEnvironment.EchoAsync)
            .Register("vma-api", TinyHttpServer.HandleAsync);
        await env.ConnectAgentAsync("agent-api", agentServices);
        var ct = Within(30);

        // Reverse direction: OMA → VMA through the connection the VMA dialled.
        var data = Encoding.UTF8.GetBytes(new string('x', 200_000));
        await using (var stream = await env.Server.OpenStreamAsync("agent-api", "echo", ct))
        {
            Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, data, ct), Is.EqualTo(data));
        }

        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, token) => await env.Server.OpenStreamAsync("agent-api", "vma-api", token),
        };
        using var http = new HttpClient(handler) { BaseAddress = new Uri("http://vma.tunnel/") };
        for (var i = 0; i < 3; i++)
        {
            var body = await http.GetStringAsync($"api/v1/health?i={i}", ct);
            Assert.That(body, Is.EqualTo($"{{\"status\":\"ok\",\"path\":\"/api/v1/health?i={i}\"}}"));
        }

        // Unknown service: refused with a reason, connection stays up.
        var refused = Assert.ThrowsAsync<TunnelOpenRefusedException>(async () => await env.Server.OpenStreamAsync("agent-api", "nope", ct));
        Assert.That(refused!.Message, Does.Contain("unknown service 'nope'"));
        Assert.That(await http.GetStringAsync("api/v1/health", ct), Does.Contain("ok"));
    }

    [Test]
    public async Task DisconnectingAnAgentClosesItsLiveConnection()
    {
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-revoked");
        var other = await env.ConnectAgentAsync("agent-other");
        var ct = Within(30);
        await using var live = await client.OpenStreamAsync("echo", ct);
        await live.WriteAsync(new byte[] { 1, 2, 3 }, ct);
        var echo = new byte[3];
        await live.ReadExactlyAsync(echo, ct);

        env.Authorizer.Revoke("agent-revoked");
        Assert.That(env.Server.DisconnectAgent("agent-revoked", "agent revoked"), Is.EqualTo(1));
        await env.Server.WaitDisconnectedAsync("agent-revoked", ct);

        Assert.ThrowsAsync(Is.InstanceOf<IOException>(), async () =>
        {
            var buffer = new byte[1];
            await live.ReadExactlyAsync(buffer, ct);
        });
        Assert.That(env.Server.IsConnected("agent-revoked"), Is.False);

        // Its reconnects are refused by the authorizer, with the reason logged; the other agent works.
        await env.Logs.WaitForAsync(l => l.Contains("refused: agent 'agent-revoked' revoked"), TimeSpan.FromSeconds(10));
        Assert.That(env.Server.IsConnected("agent-revoked"), Is.False);
        await using var stream = await other.OpenStreamAsync("echo", ct);
        Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, [9, 8, 7], ct), Is.EqualTo(new byte[] { 9, 8, 7 }));
    }

    [Test]
    public async Task ClientReconnectsAfterTheServerDropsTheConnection()
    {
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-reconnect");
        var ct = Within(30);
        var states = new List<TunnelClientState>();
        client.StateChanged += s => { lock (states) { states.Add(s); } };

        Assert.That(env.Server.DisconnectAgent("agent-reconnect", "test drop"), Is.EqualTo(1));
        await env.Server.WaitDisconnectedAsync("agent-reconnect", ct);

        // The client notices, backs off briefly and comes back by itself.
        while (!env.Server.IsConnected("agent-reconnect"))
        {
            await Task.Delay(20, ct);
        }

        await client.WaitConnectedAsync(ct);
        await using var stream = await client.OpenStreamAsync("echo", ct);
        var data = new byte[100_000];
        Random.Shared.NextBytes(data);
        Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, data, ct), Is.EqualTo(data));
        Assert.That(client.State, Is.EqualTo(TunnelClientState.Connected));
        lock (states)
        {
            Assert.That(states, Does.Contain(TunnelClientState.Connected));
        }
    }

    [Test]
    public async Task ForwarderPumpsLocalTcpThroughTheTunnel()
    {
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-forward");
        var ct = Within(30);
        await using var forwarder = new TunnelForwarder(new IPEndPoint(IPAddress.Loopback, 0), "echo", client, env.Logs.CreateLogger("forward"));
        forwarder.Start();

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(forwarder.LocalEndPoint, ct);
        await using var local = new NetworkStream(socket, ownsSocket: false);
        var data = new byte[1_500_000];
        Random.Shared.NextBytes(data);
        var send = Task.Run(async () =>
        {
            await local.WriteAsync(data, ct);
            socket.Shutdown(SocketShutdown.Send); // half-close travels as FIN and back
        }, ct);
        var received = new MemoryStream();
        await local.CopyToAsync(received, ct);
        await send;
        Assert.That(received.ToArray().AsSpan().SequenceEqual(data), Is.True);
    }
}

/// <summary>Just enough HTTP/1.1 to answer GETs on a tunnel stream (keep-alive, Content-Length).</summary>
internal static class TinyHttpServer
{
    public static async Task HandleAsync(Stream stream, CancellationToken cancellationToken)
    {
        using var reader = new StreamReader(stream, Encoding.ASCII, leaveOpen: true);
        while (true)
        {
            var requestLine = await reader.ReadLineAsync(cancellationToken);
            if (requestLine is null)
            {
                return;
            }

            string? header;
            while (!string.IsNullOrEmpty(header = await reader.ReadLineAsync(cancellationToken)))
            {
            }

            var path = requestLine.Split(' ')[1];
            var body = Encoding.UTF8.GetBytes($"{{\"status\":\"ok\",\"path\":\"{path}\"}}");
            var head = Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\n\r\n");
            await stream.WriteAsync(head, cancellationToken);
            await stream.WriteAsync(body, cancellationToken);
        }
    }
}

// Short keep-alive timers on a real TLS tunnel; serial like the other socket fixtures.
[NonParallelizable]
[Category(TestKind.Unit)]
public class TunnelKeepAliveTests
{
    [Test]
    public async Task PingsKeepAnIdleTunnelUpAndASilentPeerIsClosed()
    {
        var fast = new TunnelConnectionOptions { PingInterval = TimeSpan.FromMilliseconds(100), KeepAliveTimeout = TimeSpan.FromMilliseconds(500) };
        await using var env = new TunnelTestEnvironment(connection: fast);
        var client = await env.ConnectAgentAsync("agent-idle", connection: fast);

        // A peer that authenticates and then never sends a frame (not even PONG).
        var (certificate, issued) = env.Pki.IssueAgent("agent-silent");
        env.Authorizer.Allow(issued);
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, env.Port);
        await using var silent = new System.Net.Security.SslStream(new NetworkStream(socket, ownsSocket: false));
        await silent.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "localhost",
            ApplicationProtocols = [new System.Net.Security.SslApplicationProtocol(TunnelWire.TunnelAlpn)],
            ClientCertificateContext = System.Net.Security.SslStreamCertificateContext.Create(certificate, null, offline: true),
            RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null,
        });

        await Task.Delay(1500); // three keep-alive timeouts
        await env.Logs.WaitForAsync(l => l.Contains("agent-silent") && l.Contains("keep-alive timeout"), TimeSpan.FromSeconds(5));
        Assert.That(env.Server.IsConnected("agent-silent"), Is.False);

        // The idle but responsive agent is still there and usable.
        Assert.That(env.Server.IsConnected("agent-idle"), Is.True);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await using var stream = await client.OpenStreamAsync("echo", cts.Token);
        Assert.That(await TunnelTestEnvironment.EchoRoundTripAsync(stream, [5, 6], cts.Token), Is.EqualTo(new byte[] { 5, 6 }));
    }

    [Test]
    public async Task GracefulStopLetsRunningStreamsFinish()
    {
        await using var env = new TunnelTestEnvironment();
        var client = await env.ConnectAgentAsync("agent-stop");
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        var stream = await client.OpenStreamAsync("sink", cts.Token);
        var stop = client.StopAsync(cts.Token); // GOAWAY: no new streams, running ones may finish
        Assert.ThrowsAsync(Is.InstanceOf<Exception>(), async () => await client.OpenStreamAsync("echo", cts.Token));
        await stream.WriteAsync(new byte[100_000], cts.Token);
        stream.CompleteWrites();
        var count = new byte[8];
        await stream.ReadExactlyAsync(count, cts.Token);
        Assert.That(System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(count), Is.EqualTo(100_000));
        await stream.DisposeAsync();
        await stop;
        Assert.That(client.State, Is.EqualTo(TunnelClientState.Stopped));
    }
}
