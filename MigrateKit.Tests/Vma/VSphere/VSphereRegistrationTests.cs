using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

[Parallelizable]
[Category(TestKind.Unit)]
public sealed class VSphereRegistrationTests
{
    [Test]
    public void AddVSphereClientBindsTheVSphereSection()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["VSphere:Address"] = "vc.example.com",
            ["VSphere:User"] = "svc-migratekit@vsphere.local",
            ["VSphere:PasswordFile"] = "/etc/migratekit/vcenter.password",
            ["VSphere:Thumbprint"] = string.Join(':', Enumerable.Repeat("0A", 20)),
            ["VSphere:TaskTimeout"] = "00:10:00",
        }).Build();
        var services = new ServiceCollection().AddLogging();

        VSphereRegistration.AddVSphereClient(services, config);
        using var provider = services.BuildServiceProvider();

        var client = provider.GetRequiredService<VSphereClient>();
        Assert.That(client.Options.SdkUri().ToString(), Is.EqualTo("https://vc.example.com/sdk"));
        Assert.That(client.Options.TaskTimeout, Is.EqualTo(TimeSpan.FromMinutes(10)));
        Assert.That(provider.GetServices<IHostedService>().OfType<VSphereKeepAliveService>().Count(), Is.EqualTo(1));
        Assert.That(client.LoginCount, Is.Zero, "nothing talks to vCenter at registration");
    }

    [Test]
    public void AMissingThumbprintIsRejectedWhenTheClientIsBuilt()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["VSphere:Address"] = "vc.example.com",
            ["VSphere:User"] = "u",
            ["VSphere:PasswordFile"] = "/p",
        }).Build();
        var services = new ServiceCollection();
        VSphereRegistration.AddVSphereClient(services, config);
        using var provider = services.BuildServiceProvider();

        var e = Assert.Throws<ArgumentException>(() => provider.GetRequiredService<VSphereClient>());
        Assert.That(e!.Message, Does.Contain("thumbprint"));
    }
}
