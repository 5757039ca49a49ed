using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.Ossea;

[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public sealed class OsseaErrorClassificationTests
{
    [TestCase(429, true, true)]
    [TestCase(429, false, true)] // throttling refuses before executing: even a create may repeat
    [TestCase(503, false, true)]
    [TestCase(504, false, true)]
    [TestCase(502, true, true)]
    [TestCase(530, true, true)] // internal error on a list: repeat
    [TestCase(530, false, false)] // internal error on a change: may have half happened
    [TestCase(401, true, false)]
    [TestCase(431, true, false)]
    [TestCase(432, true, false)]
    [TestCase(533, false, false)]
    [TestCase(534, true, false)]
    [TestCase(535, false, false)]
    [TestCase(536, false, false)]
    public void Transience(int code, bool readOnly, bool transient)
        => Assert.That(OsseaErrorCodes.IsTransient(code, readOnly), Is.EqualTo(transient));

    [Test]
    public void MessagesNameTheCodeAndTheJob()
    {
        var ex = new OsseaApiException("attachVolume", 536, 4380, "volume in use", isTransient: false, jobId: "j-1");
        Assert.That(ex.Message, Is.EqualTo("OSSEA attachVolume (job j-1) failed with error 536 (RESOURCE_IN_USE_ERROR, cserrorcode 4380): volume in use"));
        var none = new OsseaApiException("listZones", 0, null, "transport failure (ConnectionError)", isTransient: true);
        Assert.That(none.Message, Is.EqualTo("OSSEA listZones failed without a response: transport failure (ConnectionError)"));
    }

    [Test]
    public void SerialIsTheFirstTwentyHexDigitsOfTheUuid()
        => Assert.That(OsseaVolumeSerial.FromVolumeId("60338035-92fb-4d27-98d4-b60ad4b38b87"), Is.EqualTo("6033803592fb4d2798d4"));

    [Test]
    public void OperationTypeIsRequired()
        => Assert.Throws<ArgumentException>(() => _ = new OsseaOperation(" "));

    [Test]
    public void DeployRequestRefusesNetworkidsWithIpToNetworkList()
    {
        var request = new OsseaDeployVirtualMachine
        {
            Name = "x", ServiceOfferingId = "s", TemplateId = "t", ZoneId = "z",
            NetworkIds = ["n1"], Nics = [new OsseaNicPlacement("n2")],
        };
        Assert.Throws<ArgumentException>(() => OsseaClient.BuildDeploy(request));
    }

    [Test]
    public void DeployRequestParameters()
    {
        var call = OsseaClient.BuildDeploy(new OsseaDeployVirtualMachine
        {
            Name = "web01", ServiceOfferingId = "s", TemplateId = "t", ZoneId = "z", StartVm = false, RootDiskSizeGb = 40,
            Nics = [new OsseaNicPlacement("n1", "10.0.0.5", "00:50:56:00:00:01"), new OsseaNicPlacement("n2", MacAddress: "00:50:56:00:00:02")],
            Details = new Dictionary<string, string> { ["rootDiskController"] = "virtio" },
        });
        Assert.That(call.Parameters, Is.EquivalentTo(new Dictionary<string, string>
        {
            ["name"] = "web01", ["serviceofferingid"] = "s", ["templateid"] = "t", ["zoneid"] = "z", ["startvm"] = "false",
            ["rootdisksize"] = "40",
            ["iptonetworklist[0].networkid"] = "n1", ["iptonetworklist[0].ip"] = "10.0.0.5", ["iptonetworklist[0].mac"] = "00:50:56:00:00:01",
            ["iptonetworklist[1].networkid"] = "n2", ["iptonetworklist[1].mac"] = "00:50:56:00:00:02",
            ["details[0].rootDiskController"] = "virtio",
        }));
        Assert.That(call.ReadOnly, Is.False);
        Assert.That(call.RequiresPost, Is.False);
    }
}
