using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Tunnel;

// Spawns nbdcopy/qemu-img against a real TLS tunnel on 127.0.0.1: serial with the other socket fixtures.
[NonParallelizable]
[Category(TestKind.Peer)]
public class TunnelNbdTests
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(60);

    [Test]
    public async Task NbdcopyThroughTheForwarderIntoAnExportServedOverTheTunnel()
    {
        const int size = 64 * 1024 * 1024;
        var dir = Path.Combine(Path.GetTempPath(), "mk-tunnel-nbd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var source = Path.Combine(dir, "source.img");
            var target = Path.Combine(dir, "target.img");
            var image = new byte[size];
            new Random(42).NextBytes(image);
            image.AsSpan(16 * 1024 * 1024, 8 * 1024 * 1024).Clear(); // a zero run nbdcopy may send as WRITE_ZEROES
            await File.WriteAllBytesAsync(source, image);
            using (var f = File.Create(target))
            {
                f.SetLength(size);
            }

            // OMA: the NBD server is not listening on TCP here; it serves each tunnel stream of service "nbd".
            var exports = new NbdExportTable([new NbdExportDefinition("disk0", target)]);
            await using var nbd = new NbdServer(exports);
            await using var env = new TunnelTestEnvironment();
            env.ServerServices.Register("nbd", nbd.ServeAsync);

            // VMA: `vma forward --listen 127.0.0.1:PORT --service nbd`.
            var client = await env.ConnectAgentAsync("agent-nbd", connections: 2);
            await using var forwarder = new TunnelForwarder(new IPEndPoint(IPAddress.Loopback, 0), "nbd", client, NullLogger.Instance);
            forwarder.Start();
            var uri = $"nbd://127.0.0.1:{forwarder.LocalEndPoint.Port}/disk0";

            await using (var copy = await ExternalProcess.RunAsync("nbdcopy", ["--flush", source, uri], ToolTimeout))
            {
                Assert.That(copy.ExitCode, Is.Zero, copy.ToString());
            }

            await using (var compare = await ExternalProcess.RunAsync("qemu-img", ["compare", "-f", "raw", "-F", "raw", uri, source], ToolTimeout))
            {
                Assert.That(compare.ExitCode, Is.Zero, compare.ToString());
            }

            Assert.That((await File.ReadAllBytesAsync(target)).AsSpan().SequenceEqual(image), Is.True, "the export's backing file holds the source");
            Assert.That(env.Server.Agents.Single().StreamsOpened, Is.GreaterThanOrEqualTo(2), "nbdcopy and qemu-img each came through the tunnel");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Test, CancelAfter(60_000)]
    public async Task NbdServerParsesTunnelStreamsInPlaceAndReturnsStreamCredit(CancellationToken ct)
    {
        // The NBD server reads a tunnel stream's pipe directly (TunnelStreamReader); with the
        // smallest stream window, 24 MiB of pipelined WRITEs only get through if every consumed
        // byte returns credit, and the data must land byte-exact.
        const int size = 24 * 1024 * 1024;
        var window = new TunnelConnectionOptions { StreamWindow = 64 * 1024 };
        var dir = Path.Combine(Path.GetTempPath(), "mk-tunnel-nbd-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            var target = Path.Combine(dir, "target.img");
            using (var f = File.Create(target))
            {
                f.SetLength(size);
            }
            var exports = new NbdExportTable([new NbdExportDefinition("disk0", target)]);
            await using var nbd = new NbdServer(exports);
            await using var env = new TunnelTestEnvironment(connection: window);
            env.ServerServices.Register("nbd", nbd.ServeAsync);
            var agent = await env.ConnectAgentAsync("agent-window", connection: window);

            var image = new byte[size];
            new Random(7).NextBytes(image);
            var stream = await agent.OpenStreamAsync("nbd", ct);
            await using (var client = await NbdClient.ConnectAsync(stream, "disk0", new NbdClientOptions { MaxInFlight = 16 }, ct))
            {
                var writes = new List<Task>();
                for (var offset = 0; offset < size; offset += 256 * 1024)
                {
                    writes.Add(client.WriteAsync(offset, image.AsMemory(offset, 256 * 1024), ct: ct));
                }
                await Task.WhenAll(writes);
                await client.FlushAsync(ct);
                var back = new byte[1024 * 1024];
                await client.ReadAsync(size - back.Length, back, ct);
                Assert.That(back.AsSpan().SequenceEqual(image.AsSpan(size - back.Length)), Is.True);
                await client.DisconnectAsync(ct);
            }
            Assert.That((await File.ReadAllBytesAsync(target, ct)).AsSpan().SequenceEqual(image), Is.True);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
