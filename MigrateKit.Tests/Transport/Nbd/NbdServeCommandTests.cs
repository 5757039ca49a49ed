using System.CommandLine;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using MigrateKit.Host.Oma.Cli;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

[NonParallelizable] // binds a loopback port and writes to the console
[Category(TestKind.Unit)]
public class NbdServeCommandTests
{
    [TestCase("--export", "no-equals-sign")]
    [TestCase("--export", "=path-without-name")]
    [TestCase("--listen", "not-an-endpoint")]
    public void BadArgumentsAreRejected(string option, string value)
    {
        var root = new RootCommand { NbdServeCommand.Create() };
        var args = option == "--export" ? new[] { "nbd-serve", option, value } : ["nbd-serve", option, value, "--export", "a=/dev/null"];
        Assert.That(root.Parse(args).Errors, Is.Not.Empty);
    }

    [TestCase("--tunnel-pki", "/tmp/x")]                       // no --tunnel-agent
    [TestCase("--tunnel-agent", "not-a-fingerprint")]
    public void BadTunnelArgumentsAreRejected(string option, string value)
    {
        var root = new RootCommand { NbdServeCommand.Create() };
        var args = new[] { "nbd-serve", "--export", "a=/dev/null", "--tunnel-listen", "127.0.0.1:1", option, value };
        Assert.That(root.Parse(args).Errors, Is.Not.Empty);
    }

    [Test, CancelAfter(60_000)]
    public async Task TunnelListenOffersTheExportsToTheGivenAgentOnly(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-cli");
        var image = scratch.File("disk.img");
        await File.WriteAllBytesAsync(image, new byte[1024 * 1024], ct);
        var pki = scratch.File("pki");
        var port = FreePort.Get();
        var tunnelPort = FreePort.Get();

        // The CA nbd-serve will load, made here first so the test can issue agent certificates from it.
        X509Certificate2 agent, stranger, ca;
        using (var authority = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = pki }, TimeProvider.System))
        {
            agent = Issue(authority, "bench-agent");
            stranger = Issue(authority, "stranger");
            ca = X509CertificateLoader.LoadCertificate(authority.CaCertificate.RawData);
        }
        var root = new RootCommand { NbdServeCommand.Create() };
        var parse = root.Parse(["nbd-serve", "--listen", $"127.0.0.1:{port}", "--export", $"disk={image}",
            "--tunnel-listen", $"127.0.0.1:{tunnelPort}", "--tunnel-pki", pki, "--tunnel-agent", CertificateFingerprint.Of(agent).ToString()]);
        Assert.That(parse.Errors, Is.Empty);
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = parse.InvokeAsync(null, stop.Token);
        await FreePort.WaitForListenerAsync(tunnelPort, TimeSpan.FromSeconds(10), ct);

        await using (var client = Client(tunnelPort, agent, ca))
        {
            await client.WaitConnectedAsync(ct);
            var stream = await client.OpenStreamAsync("nbd", ct);
            await using var nbd = await NbdClient.ConnectAsync(stream, "disk", ct: ct);
            var data = NbdEndToEndTests.RandomBytes(64 * 1024, 8);
            await nbd.WriteAsync(4096, data, ct: ct);
            await nbd.FlushAsync(ct);
            await nbd.DisconnectAsync(ct);
            Assert.That((await File.ReadAllBytesAsync(image, ct)).AsSpan(4096, data.Length).SequenceEqual(data), Is.True);
        }

        await using (var refused = Client(tunnelPort, stranger, ca))
        {
            using var shortly = CancellationTokenSource.CreateLinkedTokenSource(ct);
            shortly.CancelAfter(TimeSpan.FromSeconds(3));
            Assert.That(async () => await refused.WaitConnectedAsync(shortly.Token), Throws.InstanceOf<OperationCanceledException>(),
                "an agent not given with --tunnel-agent is refused");
            Assert.That(refused.LastError, Does.Contain("--tunnel-agent"));
        }

        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(15), ct), Is.Zero);
    }

    private static X509Certificate2 Issue(OmaCertificateAuthority authority, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var issued = authority.SignAgentRequest(new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256).CreateSigningRequestPem(), name);
        return issued.Certificate.CopyWithPrivateKey(key);
    }

    private static TunnelClient Client(int port, X509Certificate2 certificate, X509Certificate2 ca)
    {
        var client = new TunnelClient(new TunnelClientOptions
        {
            Host = "127.0.0.1",
            Port = port,
            ClientCertificate = certificate,
            CaCertificate = ca,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(200),
            ReconnectMaxDelay = TimeSpan.FromSeconds(1),
        }, new TunnelServiceRegistry(), NullLoggerFactory.Instance, TimeProvider.System);
        client.Start();
        return client;
    }

    [Test, CancelAfter(30_000)]
    public async Task ServesTheExportsUntilCancelled(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-cli");
        var image = scratch.File("disk.img");
        await File.WriteAllBytesAsync(image, NbdEndToEndTests.RandomBytes(1024 * 1024, 4), ct);
        var port = FreePort.Get();
        var root = new RootCommand { NbdServeCommand.Create() };
        var parse = root.Parse(["nbd-serve", "--listen", $"127.0.0.1:{port}", "--export", $"disk={image}", "--read-only"]);
        Assert.That(parse.Errors, Is.Empty);

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var run = parse.InvokeAsync(null, stop.Token);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(10), ct);
        await using (var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "disk", ct: ct))
        {
            Assert.That(client.IsReadOnly, Is.True);
            var back = new byte[4096];
            await client.ReadAsync(0, back, ct);
            Assert.That(back, Is.EqualTo(NbdEndToEndTests.RandomBytes(1024 * 1024, 4)[..4096]));
        }
        await stop.CancelAsync();
        Assert.That(await run.WaitAsync(TimeSpan.FromSeconds(10), ct), Is.Zero);
    }
}
