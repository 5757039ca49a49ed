using System.Text.Json;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.VmaContracts;

/// <summary>
/// The bytes each side puts on the wire. The expected strings were captured from the records the
/// agent and the OMA defined separately before they shared VmaContracts: a change here is an API
/// change, and an agent and an OMA of different versions must still understand each other.
/// </summary>
[Category(TestKind.Unit)]
[Parallelizable]
public sealed class VmaWireFormatTests
{
    // The agent answers through minimal APIs (ASP.NET Core's JSON options); the OMA's client sends with web defaults.
    private static readonly JsonSerializerOptions Agent = new Microsoft.AspNetCore.Http.Json.JsonOptions().SerializerOptions;
    private static readonly JsonSerializerOptions Oma = new(JsonSerializerDefaults.Web);
    private static readonly DateTimeOffset At = new(2025, 1, 2, 3, 4, 5, TimeSpan.Zero);

    public static IEnumerable<TestCaseData> AgentAnswers()
    {
        yield return Case("health", new VmaHealth("ok", "1.2.3", new VmaVCenterHealth(true, false, "vc", null), new VmaTunnelHealth("connected", 2, null)),
            Json("""
            {"status":"ok","version":"1.2.3","vCenter":{"configured":true,"reachable":false,"address":"vc","error":null},
            "tunnel":{"state":"connected","connections":2,"lastError":null}}
            """));
        yield return Case("vm summary", new VmaVmSummary("vm-1", "web", "/DC0/vm/web", "poweredOn", true, false, 2, 1024, "g", "bios", 2, 4096),
            Json("""
            {"moref":"vm-1","name":"web","path":"/DC0/vm/web","powerState":"poweredOn","cbtEnabled":true,
            "isTemplate":false,"diskCount":2,"totalCapacityBytes":1024,"guestId":"g","firmware":"bios","numCpu":2,
            "memoryMb":4096}
            """));
        yield return Case("vm spec", new VmaVmSpec("vm-1", "web", "/DC0/vm/web", null, "poweredOn", "g", null, "efi", 2, 4096, 14, true, false,
                [new VmaDiskSpec(2000, "Hard disk 1", 1 << 20, "[ds] web.vmdk", "ds", 0, 1000, "thin", "*", "persistent")],
                [new VmaNicSpec(4000, "Network adapter 1", "vmxnet3", "00:50:56:aa:bb:cc", "standard", "VM Network", "network-1")],
                [new VmaSnapshotInfo("snapshot-1", "s", 1, null, false)]),
            Json("""
            {"moref":"vm-1","name":"web","path":"/DC0/vm/web","instanceUuid":null,"powerState":"poweredOn","guestId":"g",
            "guestFullName":null,"firmware":"efi","numCpu":2,"memoryMb":4096,"hardwareVersion":14,"cbtEnabled":true,
            "isTemplate":false,"disks":[{"deviceKey":2000,"label":"Hard disk 1","capacityBytes":1048576,
            "fileName":"[ds] web.vmdk","datastore":"ds","unitNumber":0,"controllerKey":1000,"provisioningType":"thin",
            "changeId":"*","diskMode":"persistent"}],"nics":[{"deviceKey":4000,"label":"Network adapter 1",
            "deviceType":"vmxnet3","macAddress":"00:50:56:aa:bb:cc","networkKind":"standard","networkName":"VM Network",
            "networkMoref":"network-1"}],"snapshots":[{"snapshotId":"snapshot-1","name":"s","id":1,"parentId":null,
            "quiesced":false}]}
            """));
        yield return Case("cbt status", new VmaCbtStatus("vm-1", true, true, null, 14),
            """{"vm":"vm-1","enabled":true,"supported":true,"reason":null,"hardwareVersion":14}""");
        yield return Case("snapshot", new VmaSnapshot("vm-1", "snapshot-1", "s", [new VmaSnapshotDisk(2000, "[ds] web.vmdk", 1 << 20, "52/1")]),
            Json("""
            {"vm":"vm-1","snapshotId":"snapshot-1","name":"s","disks":[{"deviceKey":2000,"fileName":"[ds] web.vmdk",
            "capacityBytes":1048576,"changeId":"52/1"}]}
            """));
        yield return Case("power", new VmaPowerResult("vm-1", "already-off", "poweredOff"),
            """{"vm":"vm-1","outcome":"already-off","powerState":"poweredOff"}""");
        yield return Case("sync accepted", new VmaSyncAccepted("j1", "queued", "/api/v1/progress/j1"),
            """{"jobId":"j1","state":"queued","progressUrl":"/api/v1/progress/j1"}""");
        yield return Case("progress", new VmaSyncProgress("j1", "vm-1", "snapshot-1", "running", At, null, 100, 50, 50.0, 10.5, 5.0, null, null,
                [new VmaDiskProgress(2000, "e", "copying", "*", null, 200, 0, 100, 50, 40, 10, 3, 1, 5, 2, 50.0, 10.5, null, 32, null)]),
            Json("""
            {"jobId":"j1","vm":"vm-1","snapshotId":"snapshot-1","state":"running","startedAt":"2025-01-02T03:04:05+00:00",
            "endedAt":null,"bytesTotal":100,"bytesDone":50,"percent":50,"rateBytesPerSecond":10.5,"etaSeconds":5,
            "bandwidthLimitBytesPerSecond":null,"error":null,"disks":[{"deviceKey":2000,"exportName":"e",
            "state":"copying","baseChangeId":"*","newChangeId":null,"capacityBytes":200,"startOffset":0,"bytesTotal":100,
            "bytesDone":50,"dataBytesSent":40,"zeroBytesSent":10,"extentsTotal":3,"extentsDone":1,"writeRequests":5,
            "zeroRequests":2,"percent":50,"rateBytesPerSecond":10.5,"etaSeconds":null,"checkpoint":32,"error":null}]}
            """));
        yield return Case("hashes", new VmaDiskHashes("vm-1", "snapshot-1", 2000, 1 << 20, "sha256", 65536, [new VmaRangeHash(0, 65536, "ab")], 65536, null),
            Json("""
            {"vm":"vm-1","snapshotId":"snapshot-1","deviceKey":2000,"capacityBytes":1048576,"algorithm":"sha256",
            "chunkBytes":65536,"chunks":[{"offset":0,"length":65536,"sha256":"ab"}],"bytesHashed":65536,"nextOffset":null}
            """));
    }

    public static IEnumerable<TestCaseData> OmaRequests()
    {
        yield return Case("sync request", new VmaSyncRequest("j1", "vm-1", "snapshot-1",
                [new VmaSyncDisk(2000, "e", "*", 0), new VmaSyncDisk(2001, "f", "52/1", 4096) { ExtraRanges = [new VmaByteRange(0, 512)] }], null),
            Json("""
            {"jobId":"j1","vm":"vm-1","snapshotId":"snapshot-1","disks":[{"deviceKey":2000,"exportName":"e",
            "changeId":"*","startOffset":0,"extraRanges":null},{"deviceKey":2001,"exportName":"f","changeId":"52/1",
            "startOffset":4096,"extraRanges":[{"offset":0,"length":512}]}],"bandwidthLimitBytesPerSecond":null}
            """));
        yield return Case("hash request", new VmaHashRequest(null, [new VmaByteRange(0, 512)], 65536, 0, 1 << 30),
            Json("""
            {"changeId":null,"ranges":[{"offset":0,"length":512}],"chunkBytes":65536,"fromOffset":0,"maxBytes":1073741824}
            """));
        yield return Case("snapshot request", new VmaCreateSnapshotRequest("mk-1", "MigrateKit"),
            """{"name":"mk-1","description":"MigrateKit"}""");
    }

    [TestCaseSource(nameof(AgentAnswers))]
    public void The_agent_answers_with_the_same_bytes(object value, string expected) =>
        Assert.That(JsonSerializer.Serialize(value, value.GetType(), Agent), Is.EqualTo(expected));

    [TestCaseSource(nameof(OmaRequests))]
    public void The_oma_sends_the_same_bytes(object value, string expected) =>
        Assert.That(JsonSerializer.Serialize(value, value.GetType(), Oma), Is.EqualTo(expected));

    [TestCaseSource(nameof(AgentAnswers))]
    [TestCaseSource(nameof(OmaRequests))]
    public void What_one_side_writes_the_other_reads_back_whole(object value, string expected)
    {
        var read = JsonSerializer.Deserialize(expected, value.GetType(), Oma)!;
        Assert.That(JsonSerializer.Serialize(read, value.GetType(), Agent), Is.EqualTo(expected));
    }

    [Test]
    public void Derived_values_stay_off_the_wire_and_quiesce_is_sent_only_when_asked_for()
    {
        var progress = new VmaSyncProgress("j1", "vm-1", "s", VmaSyncStates.CbtReset, At, At, 0, 0, 0, 0, null, null, null, []);
        var quiesced = new VmaCreateSnapshotRequest(null, null) { Quiesce = true };
        Assert.Multiple(() =>
        {
            Assert.That(progress.IsFinal, Is.True);
            Assert.That(JsonSerializer.Serialize(progress, Agent), Does.Not.Contain("isFinal"));
            Assert.That(JsonSerializer.Serialize(quiesced, Oma), Is.EqualTo("""{"name":null,"description":null,"quiesce":true}"""));
            Assert.That(JsonSerializer.Deserialize<VmaCreateSnapshotRequest>("""{"quiesce":true}""", Agent)!.Quiesce, Is.True);
        });
    }

    /// <summary>One JSON text written over several lines: the line breaks and indentation are not part of it.</summary>
    private static string Json(string lines) => string.Concat(lines.Split('\n').Select(l => l.Trim()));

    private static TestCaseData Case(string name, object value, string expected) => new TestCaseData(value, expected).SetArgDisplayNames(name);
}
