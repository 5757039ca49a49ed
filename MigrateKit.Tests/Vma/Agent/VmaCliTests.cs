using MediatR;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Host.Vma;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Vma.Support;

namespace MigrateKit.Tests.Vma.Agent;

/// <summary>The agent's operator verbs, run in-process through the real command line against a real OMA.</summary>
[Category(TestKind.Database)]
public sealed class VmaCliTests : DatabaseTest
{
    private const long MiB = 1024 * 1024;

    private static Task<int> RunAsync(params string[] args) => VmaProgram.BuildRootCommand().Parse(args).InvokeAsync();

    [Test]
    public async Task Enroll_reads_the_token_from_a_file_and_copy_streams_an_image_into_an_oma_export()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        string token;
        await using (var scope = env.Host.Services.CreateAsyncScope())
        {
            token = (await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new CreateEnrollmentTokenCommand("vma-cli", TimeSpan.FromHours(1)))).Token;
        }
        var dir = TestDirectories.Create("vma-cli");
        var tokenFile = Path.Combine(dir, "token");
        await File.WriteAllTextAsync(tokenFile, token + "\n");
        var state = Path.Combine(dir, "state");
        var oma = $"127.0.0.1:{env.Host.TunnelEndPoint.Port}";
        var fingerprint = AgentsModule.ServerFingerprint(env.Host.Services.GetRequiredService<IConfiguration>(), TimeProvider.System);

        var wrongPin = await RunAsync("enroll", "--oma", oma, "--token-file", tokenFile, "--fingerprint", new string('0', 64), "--state-dir", state);
        var bothTokens = await RunAsync("enroll", "--oma", oma, "--token-file", tokenFile, "--token", "x", "--fingerprint", fingerprint);
        var enrolled = await RunAsync("enroll", "--oma", oma, "--token-file", tokenFile, "--fingerprint", fingerprint, "--name", "vma-cli", "--state-dir", state);

        var image = TestImages.Create(dir, "disk.raw", 24 * MiB, [(0, 2 * MiB), (9 * MiB, 3 * MiB + 8192), (23 * MiB, MiB)]);
        var target = await VmaTargets.CreateExportAsync(env, "cli-copy-disk-0");
        var copied = await RunAsync("copy", image, "--export", target.Export, "--oma", oma, "--state-dir", state);
        var notEnrolled = await RunAsync("copy", image, "--export", target.Export, "--oma", oma, "--state-dir", Path.Combine(dir, "nobody"));

        Assert.Multiple(() =>
        {
            Assert.That(wrongPin, Is.EqualTo(1), "a fingerprint that does not match is refused before the token is sent");
            Assert.That(bothTokens, Is.Not.Zero);
            Assert.That(enrolled, Is.Zero);
            Assert.That(File.Exists(Path.Combine(state, "agent.key")), Is.True);
            Assert.That(copied, Is.Zero);
            Assert.That(notEnrolled, Is.EqualTo(2));
        });
        await TestImages.AssertSameAsync(image, target.DevicePath);

        // forward: a loopback port into the OMA's NBD service; a plain TCP NBD client reads the image's span back through it.
        var port = FreePort.Get();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var forwarding = VmaProgram.BuildRootCommand()
            .Parse(["forward", "--listen", $"127.0.0.1:{port}", "--service", "nbd", "--oma", oma, "--state-dir", state])
            .InvokeAsync(cancellationToken: stop.Token);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(20));
        var readBack = new byte[24 * MiB];
        long exportSize;
        await using (var nbd = await NbdClient.ConnectTcpAsync("127.0.0.1", port, target.Export))
        {
            exportSize = nbd.Size;
            await nbd.ReadAsync(0, readBack);
            await nbd.DisconnectAsync();
        }
        await stop.CancelAsync();
        Assert.That(await forwarding, Is.Zero);
        Assert.That(exportSize, Is.EqualTo(1L << 30), "the 1 GiB target volume");
        var original = await File.ReadAllBytesAsync(image);
        Assert.That(readBack.AsSpan().SequenceEqual(original), Is.True, "the export holds the image");
    }
}
