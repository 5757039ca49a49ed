using System.Net;
using System.Text;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>Paging rules, XML parsing and option checks, without vCenter.</summary>
[Parallelizable]
[Category(TestKind.Unit)]
public sealed class VSpherePureTests
{
    private static readonly string[] SoapHead =
    [
        """<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>""",
        "</soapenv:Body></soapenv:Envelope>",
    ];

    private static byte[] Envelope(string body) => Encoding.UTF8.GetBytes(SoapHead[0] + body + SoapHead[1]);

    [Test]
    public void PagerStopsWhenTheCapacityIsCovered()
    {
        var pager = new ChangedAreaPager(100);
        Assert.That(pager.NextOffset, Is.EqualTo(0));
        pager.Add(new DiskChangeInfo(0, 40, [new(0, 10), new(30, 10)]));
        Assert.That(pager.NextOffset, Is.EqualTo(40));
        pager.Add(new DiskChangeInfo(40, 60, [new(40, 5), new(90, 10)]));
        Assert.That(pager.NextOffset, Is.Null, "offset == capacity is never asked");
        var result = pager.Result();
        Assert.That(result.Extents, Is.EqualTo(new DiskExtent[] { new(0, 10), new(30, 15), new(90, 10) }));
        Assert.That(result.Pages, Is.EqualTo(2));
    }

    [Test]
    public void PagerEndsOnAnEmptyZeroLengthAnswer()
    {
        var pager = new ChangedAreaPager(100);
        pager.Add(new DiskChangeInfo(0, 0, []));
        Assert.That(pager.NextOffset, Is.Null);
        Assert.That(pager.Result().Extents, Is.Empty);
    }

    [Test]
    public void PagerAdvancesPastAreasWhenLengthIsShort()
    {
        var pager = new ChangedAreaPager(100);
        pager.Add(new DiskChangeInfo(0, 0, [new(0, 20)]));
        Assert.That(pager.NextOffset, Is.EqualTo(20));
    }

    [Test]
    public void PagerRefusesAnswersThatDoNotAdvanceOrLeaveTheDisk()
    {
        var stuck = new ChangedAreaPager(100);
        stuck.Add(new DiskChangeInfo(0, 50, []));
        Assert.Throws<VSphereException>(() => stuck.Add(new DiskChangeInfo(0, 50, [])));

        var outside = new ChangedAreaPager(100);
        Assert.Throws<VSphereException>(() => outside.Add(new DiskChangeInfo(0, 100, [new(90, 20)])));
    }

    [Test]
    public void EmptyDiskNeedsNoCall() => Assert.That(new ChangedAreaPager(0).NextOffset, Is.Null);

    [Test]
    public void MergeCoalescesOverlapsAndTouchingExtents()
        => Assert.That(ChangedAreaPager.Merge([new(50, 10), new(0, 10), new(5, 10), new(15, 5), new(70, 0)]),
            Is.EqualTo(new DiskExtent[] { new(0, 20), new(50, 10) }));

    [Test]
    public void FaultsCarryTypeMessageAndDetail()
    {
        var e = Assert.Throws<VSphereFaultException>(() => VimSoapTransport.ParseEnvelope(Envelope(
            """<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>A specified parameter was not correct: startOffset</faultstring><detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument"><invalidProperty>startOffset</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault>""")));
        Assert.That(e!.FaultType, Is.EqualTo("InvalidArgument"));
        Assert.That(e.FaultMessage, Does.Contain("startOffset"));
        Assert.That(e.InvalidProperty, Is.EqualTo("startOffset"));

        // Without xsi:type the element name says it.
        var bare = Assert.Throws<VSphereFaultException>(() => VimSoapTransport.ParseEnvelope(Envelope(
            """<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>gone</faultstring><detail><NotAuthenticatedFault xmlns="urn:vim25"/></detail></soapenv:Fault>""")));
        Assert.That(bare!.IsNotAuthenticated, Is.True);
    }

    [Test]
    public void ParsingIgnoresUnknownElementsAndRejectsDtds()
    {
        var response = VimSoapTransport.ParseEnvelope(Envelope(
            """<CurrentTimeResponse xmlns="urn:vim25"><futureThing><x/></futureThing><returnval>2026-01-01T00:00:00Z</returnval></CurrentTimeResponse>"""));
        Assert.That(response.Text("returnval"), Is.EqualTo("2026-01-01T00:00:00Z"));

        var dtd = Encoding.UTF8.GetBytes("""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>""");
        Assert.Throws<VSphereException>(() => VimSoapTransport.ParseEnvelope(dtd));
        Assert.Throws<VSphereException>(() => VimSoapTransport.ParseEnvelope("<not-xml"u8.ToArray()));
        Assert.Throws<VSphereException>(() => VimSoapTransport.ParseEnvelope(Envelope("")));
    }

    [Test]
    public void SessionCookieIsTakenFromSetCookie()
    {
        Assert.That(VimSoapTransport.ParseSessionCookie("vmware_soap_session=\"abc\"; Path=/; HttpOnly; Secure"),
            Is.EqualTo("vmware_soap_session=\"abc\""));
        Assert.That(VimSoapTransport.ParseSessionCookie("other=1; Path=/"), Is.Null);
    }

    [TestCase("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01")]
    [TestCase("abcdef0123456789abcdef0123456789abcdef01")]
    [TestCase("ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01")]
    public void ThumbprintSpellings(string thumbprint)
        => Assert.That(VSphereOptions.FormatThumbprint(VSphereOptions.ParseThumbprint(thumbprint)),
            Is.EqualTo("AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01"));

    [TestCase("AB:CD")]
    [TestCase("zz:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01")]
    public void BadThumbprintsAreRejected(string thumbprint)
        => Assert.Throws<ArgumentException>(() => VSphereOptions.ParseThumbprint(thumbprint));

    [TestCase("vc.example.com", "https://vc.example.com/sdk")]
    [TestCase("vc.example.com:8443", "https://vc.example.com:8443/sdk")]
    [TestCase("https://10.0.0.5/sdk", "https://10.0.0.5/sdk")]
    public void AddressBecomesTheSdkUri(string address, string expected)
        => Assert.That(new VSphereOptions { Address = address }.SdkUri().ToString(), Is.EqualTo(expected));

    [Test]
    public void PlainHttpIsRefused()
        => Assert.Throws<ArgumentException>(() => new VSphereOptions { Address = "http://vc/sdk" }.SdkUri());

    private static VmInfo Vm(int hw, bool cbt = false, int snapshots = 0, string diskMode = "persistent", string backing = "VirtualDiskFlatVer2BackingInfo", bool template = false)
        => new(MoRef.Vm("vm-1"), "vm", null, "/DC/vm/vm", "poweredOn", null, null, "bios", 1, 1024, hw, cbt, template,
            Enumerable.Range(1, snapshots).Select(i => new VmSnapshot(new("VirtualMachineSnapshot", $"s-{i}"), "s", i, null, false)).ToList(),
            [new VmDisk(2000, "Hard disk 1", 1024, "[ds] vm/vm.vmdk", "ds", 0, 1000, "thin", null, backing, diskMode)],
            []);

    [Test]
    public void CbtBlockers()
    {
        Assert.That(VSphereClient.CbtBlocker(Vm(13), enabling: true), Is.Null);
        Assert.That(VSphereClient.CbtBlocker(Vm(7), enabling: true), Is.Null);
        Assert.That(VSphereClient.CbtBlocker(Vm(6), enabling: true), Does.Contain("vmx-06"));
        Assert.That(VSphereClient.CbtBlocker(Vm(0), enabling: true), Does.Contain("unknown"));
        Assert.That(VSphereClient.CbtBlocker(Vm(13, template: true), enabling: false), Does.Contain("template"));
        Assert.That(VSphereClient.CbtBlocker(Vm(13, snapshots: 2), enabling: true), Does.Contain("2 snapshot"));
        Assert.That(VSphereClient.CbtBlocker(Vm(13, snapshots: 2), enabling: false), Is.Null, "existing snapshots only block enabling");
        Assert.That(VSphereClient.CbtBlocker(Vm(13, cbt: true, snapshots: 2), enabling: true), Is.Null, "already on");
        Assert.That(VSphereClient.CbtBlocker(Vm(13, diskMode: "independent_persistent"), enabling: true), Does.Contain("independent"));
        Assert.That(VSphereClient.CbtBlocker(Vm(13, backing: "VirtualDiskRawDiskVer2BackingInfo"), enabling: true), Does.Contain("raw"));
    }

    [TestCase("vmx-13", 13)]
    [TestCase("vmx-04", 4)]
    [TestCase("vmx-", 0)]
    [TestCase(null, 0)]
    public void HardwareVersions(string? version, int expected)
        => Assert.That(VSphereClient.ParseHardwareVersion(version), Is.EqualTo(expected));

    [Test]
    public void DatastoreNameFromAFilePath()
    {
        Assert.That(VSphereClient.DatastoreFromPath("[LocalDS_0] vm/disk1.vmdk"), Is.EqualTo("LocalDS_0"));
        Assert.That(VSphereClient.DatastoreFromPath("vm/disk1.vmdk"), Is.EqualTo(""));
    }

    /// <summary>A scripted vCenter for what the simulator cannot do: PropertyCollector continuation tokens and oversized answers.</summary>
    private sealed class ScriptedVCenter(Func<string, string, string> answer) : HttpMessageHandler
    {
        public List<string> Methods { get; } = [];

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken ct)
        {
            var body = await request.Content!.ReadAsStringAsync(ct);
            var method = System.Xml.Linq.XDocument.Parse(body).Root!.Elements().First().Elements().First().Name.LocalName;
            lock (Methods)
            {
                Methods.Add(method);
            }
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new ByteArrayContent(Envelope(answer(method, body))) };
            response.Content.Headers.ContentType = new("text/xml");
            if (method == "Login")
            {
                response.Headers.Add("Set-Cookie", "vmware_soap_session=\"s1\"; Path=/; HttpOnly; Secure");
            }
            return response;
        }
    }

    private const string ServiceContent = """<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><viewManager type="ViewManager">ViewManager</viewManager><about><apiVersion>8.0.3.0</apiVersion><apiType>VirtualCenter</apiType></about><sessionManager type="SessionManager">SessionManager</sessionManager></returnval></RetrieveServiceContentResponse>""";

    private static VSphereOptions ScriptedOptions(string passwordFile, int maxResponse = 64 * 1024 * 1024) => new()
    {
        Address = "vc.invalid",
        User = "u",
        PasswordFile = passwordFile,
        Thumbprint = string.Join(':', Enumerable.Repeat("00", 20)),
        MaxResponseBytes = maxResponse,
    };

    [Test]
    public async Task PropertyCollectorContinuationTokensAreFollowed()
    {
        var pw = Path.GetTempFileName();
        await File.WriteAllTextAsync(pw, "secret");
        try
        {
            static string Obj(string v) => $"""<objects><obj type="Folder">{v}</obj><propSet><name>name</name><val xsi:type="xsd:string">{v}</val></propSet></objects>""";
            var handler = new ScriptedVCenter((method, _) => method switch
            {
                "RetrieveServiceContent" => ServiceContent,
                "Login" => """<LoginResponse xmlns="urn:vim25"><returnval><key>k</key></returnval></LoginResponse>""",
                "CreateContainerView" => """<CreateContainerViewResponse xmlns="urn:vim25"><returnval type="ContainerView">session[1]view</returnval></CreateContainerViewResponse>""",
                "RetrievePropertiesEx" => $"""<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>t1</token>{Obj("f1")}{Obj("f2")}</returnval></RetrievePropertiesExResponse>""",
                "ContinueRetrievePropertiesEx" => $"""<ContinueRetrievePropertiesExResponse xmlns="urn:vim25"><returnval>{Obj("f3")}</returnval></ContinueRetrievePropertiesExResponse>""",
                "DestroyView" => """<DestroyViewResponse xmlns="urn:vim25"/>""",
                _ => throw new InvalidOperationException(method),
            });
            using var client = new VSphereClient(ScriptedOptions(pw), TimeProvider.System, handler: handler);

            var objects = await client.RetrieveFromViewAsync(["Folder"], [("Folder", ["name"])], CancellationToken.None);

            Assert.That(objects.Select(o => o["name"]!.Value), Is.EqualTo(new[] { "f1", "f2", "f3" }));
            Assert.That(handler.Methods, Is.EqualTo(new[]
            {
                "RetrieveServiceContent", "Login", "CreateContainerView", "RetrievePropertiesEx", "ContinueRetrievePropertiesEx", "DestroyView",
            }));
            Assert.That(client.Content.ApiVersion, Is.EqualTo("8.0.3.0"));
        }
        finally
        {
            File.Delete(pw);
        }
    }

    [Test]
    public async Task OversizedResponsesAreRefused()
    {
        var pw = Path.GetTempFileName();
        await File.WriteAllTextAsync(pw, "secret");
        try
        {
            var big = new string('x', 200 * 1024);
            var handler = new ScriptedVCenter((_, _) => $"""<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval>{big}</returnval></RetrieveServiceContentResponse>""");
            using var client = new VSphereClient(ScriptedOptions(pw, maxResponse: 128 * 1024), TimeProvider.System, handler: handler);

            var e = Assert.ThrowsAsync<VSphereException>(() => client.ConnectAsync(CancellationToken.None));

            Assert.That(e!.Message, Does.Contain("limit"));
        }
        finally
        {
            File.Delete(pw);
        }
    }

    [Test]
    public async Task ATaskThatNeverFinishesTimesOut()
    {
        var pw = Path.GetTempFileName();
        await File.WriteAllTextAsync(pw, "secret");
        try
        {
            var handler = new ScriptedVCenter((method, _) => method switch
            {
                "RetrieveServiceContent" => ServiceContent,
                "Login" => """<LoginResponse xmlns="urn:vim25"><returnval><key>k</key></returnval></LoginResponse>""",
                "PowerOffVM_Task" => """<PowerOffVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-7</returnval></PowerOffVM_TaskResponse>""",
                "RetrievePropertiesEx" => """<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="Task">task-7</obj><propSet><name>info</name><val xsi:type="TaskInfo"><key>task-7</key><state>running</state><progress>10</progress></val></propSet></objects></returnval></RetrievePropertiesExResponse>""",
                _ => throw new InvalidOperationException(method),
            });
            using var client = new VSphereClient(ScriptedOptions(pw), TimeProvider.System, handler: handler);

            var e = Assert.ThrowsAsync<VSphereTaskTimeoutException>(() =>
                client.RunTaskAsync("PowerOffVM_Task", MoRef.Vm("vm-1"), null, TimeSpan.FromMilliseconds(400), CancellationToken.None));

            Assert.That(e!.Task, Is.EqualTo(new MoRef("Task", "task-7")));
            Assert.That(e.Message, Does.Contain("PowerOffVM_Task"));
            Assert.That(handler.Methods.Count(m => m == "RetrievePropertiesEx"), Is.GreaterThanOrEqualTo(2), "it polled");
        }
        finally
        {
            File.Delete(pw);
        }
    }

    [Test]
    public async Task GuestShutdownFallsBackToPowerOffWithoutTools()
    {
        var pw = Path.GetTempFileName();
        await File.WriteAllTextAsync(pw, "secret");
        try
        {
            var off = false;
            var handler = new ScriptedVCenter((method, body) => method switch
            {
                "RetrieveServiceContent" => ServiceContent,
                "Login" => """<LoginResponse xmlns="urn:vim25"><returnval><key>k</key></returnval></LoginResponse>""",
                "ShutdownGuest" => """<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>VMware Tools is not running.</faultstring><detail><ToolsUnavailableFault xmlns="urn:vim25" xsi:type="ToolsUnavailable"/></detail></soapenv:Fault>""",
                "PowerOffVM_Task" => Set(ref off, """<PowerOffVM_TaskResponse xmlns="urn:vim25"><returnval type="Task">task-9</returnval></PowerOffVM_TaskResponse>"""),
                "RetrievePropertiesEx" when body.Contains(">task-9<", StringComparison.Ordinal) =>
                    """<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="Task">task-9</obj><propSet><name>info</name><val xsi:type="TaskInfo"><state>success</state></val></propSet></objects></returnval></RetrievePropertiesExResponse>""",
                "RetrievePropertiesEx" =>
                    $"""<RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><objects><obj type="VirtualMachine">vm-1</obj><propSet><name>runtime.powerState</name><val xsi:type="VirtualMachinePowerState">{(off ? "poweredOff" : "poweredOn")}</val></propSet></objects></returnval></RetrievePropertiesExResponse>""",
                _ => throw new InvalidOperationException(method),
            });
            using var client = new VSphereClient(ScriptedOptions(pw), TimeProvider.System, handler: handler);

            var outcome = await client.ShutdownGuestAsync(MoRef.Vm("vm-1"), TimeSpan.FromMinutes(5), CancellationToken.None);

            Assert.That(outcome, Is.EqualTo(ShutdownOutcome.ForcedPowerOff));
            Assert.That(handler.Methods, Does.Contain("ShutdownGuest").And.Contain("PowerOffVM_Task"));
        }
        finally
        {
            File.Delete(pw);
        }
    }

    private static string Set(ref bool flag, string answer)
    {
        flag = true;
        return answer;
    }
}
