using System.CommandLine;
using MigrateKit.Host.Oma.Cli;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

[NonParallelizable] // binds a loopback port and writes to the console
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
