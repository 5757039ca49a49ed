using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>Login, TLS pinning, session expiry and power operations against the simulator.</summary>
[NonParallelizable] // one simulator process per fixture; expiring sessions affects every client of it
[Category(TestKind.Peer)]
public sealed class VSphereSessionTests : VcSimFixture
{
    private static CancellationToken Ct => TestContext.CurrentContext.CancellationToken;

    [Test]
    public async Task ExpiredSessionIsRenewedTransparentlyMidSequence()
    {
        await using var client = Sim.CreateClient();
        var vms = await client.DiscoverVmsAsync(Ct);
        var vm = vms.Single(v => v.Name == "DC0_H0_VM0");
        Assert.That(client.LoginCount, Is.EqualTo(1));

        Assert.That(await Sim.ExpireSessionsAsync(Ct), Is.GreaterThanOrEqualTo(1));
        Assert.That(await client.IsSessionActiveAsync(Ct), Is.False, "the simulator really dropped the session");

        var again = await client.DiscoverVmsAsync(Ct);
        Assert.That(again.Select(v => v.Ref), Is.EquivalentTo(vms.Select(v => v.Ref)));
        Assert.That(client.LoginCount, Is.EqualTo(2));

        await Sim.ExpireSessionsAsync(Ct);
        var snapshot = await client.CreateSnapshotAsync(vm.Ref, "after-expiry", "", quiesce: false, Ct);
        await Sim.ExpireSessionsAsync(Ct);
        await client.RemoveSnapshotAsync(snapshot, Ct);
        Assert.That(client.LoginCount, Is.EqualTo(4));
        Assert.That(await client.IsSessionActiveAsync(Ct), Is.True);
    }

    [Test]
    public async Task KeepAliveAndLogout()
    {
        var client = Sim.CreateClient();
        await client.ConnectAsync(Ct);
        var now = await client.KeepAliveAsync(Ct);
        Assert.That(now, Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(5)));
        Assert.That(await client.IsSessionActiveAsync(Ct), Is.True);

        await client.LogoutAsync(Ct);

        Assert.That(await client.IsSessionActiveAsync(Ct), Is.False);
        client.Dispose();
    }

    [Test]
    public async Task AThumbprintMismatchRefusesTheConnection()
    {
        var wrong = string.Join(':', Enumerable.Repeat("AB", 20));
        using var client = new VSphereClient(Sim.Options(thumbprint: wrong), TimeProvider.System);

        var e = Assert.ThrowsAsync<VSphereTlsException>(() => client.ConnectAsync(Ct));

        Assert.That(e!.Message, Does.Contain(wrong).And.Contain(Sim.Thumbprint));
        await Task.CompletedTask;
    }

    [Test]
    public async Task AThumbprintInOtherSpellingsIsAccepted()
    {
        var plainLower = Sim.Thumbprint.Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
        await using var client = new VSphereClient(Sim.Options(thumbprint: plainLower), TimeProvider.System);
        await client.ConnectAsync(Ct);
        Assert.That(client.Content.ApiType, Is.EqualTo("VirtualCenter"));
    }

    [Test]
    public async Task AWrongPasswordIsAClearAuthenticationErrorWithoutThePassword()
    {
        var dir = Directory.CreateTempSubdirectory("mk-vsphere-pw-");
        try
        {
            var wrongPassword = "not-the-password-" + Guid.NewGuid().ToString("N");
            var file = Path.Combine(dir.FullName, "pw");
            await File.WriteAllTextAsync(file, wrongPassword + "\n", Ct);
            using var client = new VSphereClient(Sim.Options(passwordFile: file), TimeProvider.System);

            var e = Assert.ThrowsAsync<VSphereAuthenticationException>(() => client.ConnectAsync(Ct));

            Assert.That(e!.Message, Does.Contain(VcSimInstance.User).And.Contain("InvalidLogin"));
            Assert.That(e.ToString(), Does.Not.Contain(wrongPassword));
            var real = (await File.ReadAllTextAsync(Sim.PasswordFile, Ct)).Trim();
            Assert.That(e.ToString(), Does.Not.Contain(real));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Test]
    public async Task GuestShutdownThenPowerOffForCutover()
    {
        await using var client = Sim.CreateClient();
        var vms = await client.DiscoverVmsAsync(Ct);
        var running = vms.Single(v => v.Name == "DC0_C0_RP0_VM0");
        var off = vms.Single(v => v.Name == "mk-legacy-hw4");

        Assert.That(await client.ShutdownGuestAsync(running.Ref, TimeSpan.FromSeconds(10), Ct), Is.EqualTo(ShutdownOutcome.GuestShutdown));
        Assert.That(await client.GetPowerStateAsync(running.Ref, Ct), Is.EqualTo("poweredOff"));
        Assert.That(await client.ShutdownGuestAsync(off.Ref, TimeSpan.FromSeconds(10), Ct), Is.EqualTo(ShutdownOutcome.AlreadyOff));

        var other = vms.Single(v => v.Name == "DC0_C0_RP0_VM1");
        await client.PowerOffAsync(other.Ref, Ct);
        Assert.That(await client.GetPowerStateAsync(other.Ref, Ct), Is.EqualTo("poweredOff"));
        await client.PowerOffAsync(other.Ref, Ct); // already off: no error
    }
}

/// <summary>Sessions that the simulator drops on its own after an idle time.</summary>
[NonParallelizable] // one simulator process per fixture
[Category(TestKind.Peer)]
public sealed class VSphereIdleSessionTests : VcSimFixture
{
    internal override VcSimSettings Settings => new(SessionIdleSeconds: 1);

    [Test]
    public async Task AnIdleExpiredSessionIsRenewed()
    {
        var ct = TestContext.CurrentContext.CancellationToken;
        await using var client = Sim.CreateClient();
        await client.ConnectAsync(ct);
        await Task.Delay(TimeSpan.FromSeconds(3), ct); // the simulator checks idleness once per timeout period

        var vms = await client.DiscoverVmsAsync(ct);

        Assert.That(vms, Has.Count.EqualTo(7));
        Assert.That(client.LoginCount, Is.EqualTo(2));
    }
}

/// <summary>The keep-alive service on a fake clock against the simulator.</summary>
[NonParallelizable] // one simulator process per fixture
[Category(TestKind.Peer)]
public sealed class VSphereKeepAliveTests : VcSimFixture
{
    [Test]
    public async Task KeepAliveTicksOnlyAfterLoginAndRenewsAnExpiredSession()
    {
        var ct = TestContext.CurrentContext.CancellationToken;
        var time = new Microsoft.Extensions.Time.Testing.FakeTimeProvider(DateTimeOffset.UnixEpoch);
        await using var client = Sim.CreateClient(time);
        using var service = new VSphereKeepAliveService(client, time);

        await service.PingAsync(ct);
        Assert.That(client.LoginCount, Is.Zero, "no login just to keep nothing alive");

        await client.ConnectAsync(ct);
        await service.StartAsync(ct);
        await Sim.ExpireSessionsAsync(ct);
        time.Advance(VSphereKeepAliveService.Interval);

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (service.Pings == 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20, ct);
        }
        await service.StopAsync(ct);

        Assert.That(service.Pings, Is.EqualTo(1));
        Assert.That(client.LoginCount, Is.EqualTo(2), "the tick found the session gone and logged in again");
        Assert.That(await client.IsSessionActiveAsync(ct), Is.True);
    }
}
