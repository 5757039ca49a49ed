using System.Buffers;
using System.Buffers.Binary;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>
/// <c>migratekit-vma tunnel-bench</c>: raw tunnel throughput on 127.0.0.1. Runs a real OMA tunnel
/// server (fresh CA in a temp directory) and an agent client in this process, streams N bytes into
/// a "sink" service over one stream and over several streams, and prints machine-readable lines:
/// <c>tunnel_raw_gbps</c> (one stream, GB/s = 10^9 bytes/s), <c>tunnel_raw_multi_gbps</c> and
/// <c>vma_rss_mb</c> (peak RSS, VmHWM, of this process — both tunnel ends together).
/// </summary>
internal static class TunnelBenchCommand
{
    public static Command Create()
    {
        var size = new Option<long>("--bytes") { Description = "bytes per run (split across streams)", DefaultValueFactory = _ => 2L * 1024 * 1024 * 1024 };
        var streams = new Option<int>("--streams") { Description = "streams for the multi-stream run", DefaultValueFactory = _ => 4 };
        var connections = new Option<int>("--connections") { Description = "TLS connections the agent keeps", DefaultValueFactory = _ => 1 };
        var command = new Command("tunnel-bench", "Measure raw TLS tunnel throughput on 127.0.0.1 (sink service).");
        command.Options.Add(size);
        command.Options.Add(streams);
        command.Options.Add(connections);
        command.SetAction(async (parseResult, ct) =>
        {
            var bytes = parseResult.GetValue(size);
            var multi = parseResult.GetValue(streams);
            var conns = parseResult.GetValue(connections);
            if (bytes <= 0 || multi is < 1 or > 256 || conns is < 1 or > 16)
            {
                await Console.Error.WriteLineAsync("tunnel-bench: --bytes > 0, --streams 1..256, --connections 1..16");
                return 2;
            }

            return await RunAsync(bytes, multi, conns, ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(long bytes, int streamCount, int connections, CancellationToken ct)
    {
        var dir = Path.Combine(Path.GetTempPath(), "mk-tunnel-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var ca = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = dir, HostNames = ["localhost"], IpAddresses = [IPAddress.Loopback] }, TimeProvider.System);
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var issued = ca.SignAgentRequest(new CertificateRequest("CN=bench", key, HashAlgorithmName.SHA256).CreateSigningRequestPem(), "bench");
            using var agentCertificate = issued.Certificate.CopyWithPrivateKey(key);

            var services = new TunnelServiceRegistry().Register("sink", SinkAsync);
            await using var server = new TunnelServer(new TunnelServerOptions { ListenAddress = IPAddress.Loopback, Port = 0 }, ca, services,
                new SingleAgentAuthorizer(issued.Fingerprint), null, NullLoggerFactory.Instance, TimeProvider.System);
            server.Start();
            await using var client = new TunnelClient(new TunnelClientOptions
            {
                Host = "127.0.0.1",
                Port = server.LocalEndPoint.Port,
                ClientCertificate = agentCertificate,
                CaCertificate = ca.CaCertificate,
                Connections = connections,
            }, new TunnelServiceRegistry(), NullLoggerFactory.Instance, TimeProvider.System);
            client.Start();
            await client.WaitConnectedAsync(ct);

            await MeasureAsync(client, Math.Min(bytes, 256L * 1024 * 1024), 1, ct); // warm-up (JIT, TLS buffers)
            var single = await MeasureAsync(client, bytes, 1, ct);
            var several = await MeasureAsync(client, bytes, streamCount, ct);
            var rss = PeakRssMegabytes();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tunnel_raw_gbps: {single:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tunnel_raw_multi_gbps: {several:F3}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tunnel_streams: {streamCount}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"tunnel_connections: {connections}"));
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"vma_rss_mb: {rss:F0}"));
            return 0;
        }
        finally
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>Streams <paramref name="bytes"/> split over <paramref name="streams"/> streams; returns GB/s.</summary>
    private static async Task<double> MeasureAsync(TunnelClient client, long bytes, int streams, CancellationToken ct)
    {
        var perStream = bytes / streams;
        var watch = Stopwatch.StartNew();
        var received = await Task.WhenAll(Enumerable.Range(0, streams).Select(_ => Task.Run(async () =>
        {
            await using var stream = await client.OpenStreamAsync("sink", ct);
            var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
            try
            {
                buffer.AsSpan().Fill(0x5A);
                for (long left = perStream; left > 0;)
                {
                    var n = (int)Math.Min(left, buffer.Length);
                    await stream.WriteAsync(buffer.AsMemory(0, n), ct);
                    left -= n;
                }

                stream.CompleteWrites();
                var count = new byte[8];
                await stream.ReadExactlyAsync(count, ct);
                return BinaryPrimitives.ReadInt64BigEndian(count);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }, ct)));
        watch.Stop();
        var total = received.Sum();
        if (total != perStream * streams)
        {
            throw new InvalidOperationException($"sink received {total} bytes, expected {perStream * streams}");
        }

        return total / watch.Elapsed.TotalSeconds / 1e9;
    }

    private static async Task SinkAsync(Stream stream, CancellationToken ct)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(1024 * 1024);
        long total = 0;
        try
        {
            int n;
            while ((n = await stream.ReadAsync(buffer, ct)) > 0)
            {
                total += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        var answer = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(answer, total);
        await stream.WriteAsync(answer, ct);
    }

    private static double PeakRssMegabytes()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmHWM:", StringComparison.Ordinal))
            {
                var kb = long.Parse(line[6..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                return kb / 1024.0;
            }
        }

        return double.NaN;
    }

    private sealed class SingleAgentAuthorizer(CertificateFingerprint allowed) : IAgentAuthorizer
    {
        public ValueTask<AgentAuthorization> AuthorizeAsync(AgentCertificateInfo certificate, CancellationToken cancellationToken)
            => ValueTask.FromResult(certificate.Fingerprint == allowed ? AgentAuthorization.Allow("bench") : AgentAuthorization.Deny("not the bench agent"));
    }
}
