using System.Text.Json;
using System.Text.Json.Nodes;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.Api;

/// <summary>
/// The OMA↔VMA JSON as agents and OMAs of the previous release write it: one contracts assembly
/// replaced two sets of records, and an agent upgraded later than its OMA (or the other way round)
/// must read every field under the same name.
/// </summary>
[Category(TestKind.Unit)]
[Parallelizable(ParallelScope.All)]
public sealed class VmaWireFormatTests
{
    // What both sides use: ASP.NET Core minimal APIs and VmaApiClient take the web defaults.
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Test]
    public void A_sync_request_is_written_as_the_previous_release_wrote_it()
    {
        var request = new VmaSyncRequest("job-1", "vm-42", "snapshot-7",
            [new VmaSyncDisk(2000, "export-a", "*", 0), new VmaSyncDisk(2001, "export-b", "52 de/3", 4096, [new VmaByteRange(0, 512)])], 1000);

        const string previousOma = """
            {"jobId":"job-1","vm":"vm-42","snapshotId":"snapshot-7","disks":[
             {"deviceKey":2000,"exportName":"export-a","changeId":"*","startOffset":0,"extraRanges":null},
             {"deviceKey":2001,"exportName":"export-b","changeId":"52 de/3","startOffset":4096,"extraRanges":[{"offset":0,"length":512}]}],
             "bandwidthLimitBytesPerSecond":1000}
            """;
        var written = JsonNode.Parse(JsonSerializer.Serialize(request, Web));
        Assert.That(JsonNode.DeepEquals(written, JsonNode.Parse(previousOma)), Is.True, written!.ToJsonString());
    }

    [Test]
    public void Progress_written_by_the_previous_agent_is_read_field_by_field()
    {
        const string previousAgent = """
            {"jobId":"job-1","vm":"vm-42","snapshotId":"snapshot-7","state":"running","startedAt":"2026-11-23T12:00:00+00:00",
             "endedAt":null,"bytesTotal":100,"bytesDone":40,"percent":40,"rateBytesPerSecond":10.5,"etaSeconds":6,
             "bandwidthLimitBytesPerSecond":null,"error":null,"disks":[{"deviceKey":2000,"exportName":"export-a","state":"copying",
             "baseChangeId":"*","newChangeId":"52 de/4","capacityBytes":1048576,"startOffset":0,"bytesTotal":100,"bytesDone":40,
             "dataBytesSent":30,"zeroBytesSent":10,"extentsTotal":3,"extentsDone":1,"writeRequests":5,"zeroRequests":1,"percent":40,
             "rateBytesPerSecond":10.5,"etaSeconds":6,"checkpoint":4096,"error":null}]}
            """;

        var progress = JsonSerializer.Deserialize<VmaSyncProgress>(previousAgent, Web)!;
        var disk = progress.Disks.Single();
        Assert.Multiple(() =>
        {
            Assert.That((progress.JobId, progress.State, progress.BytesTotal, progress.BytesDone, progress.RateBytesPerSecond),
                Is.EqualTo(("job-1", VmaSyncStates.Running, 100L, 40L, 10.5)));
            Assert.That(progress.IsFinal, Is.False);
            Assert.That((disk.DeviceKey, disk.ExportName, disk.State, disk.BaseChangeId, disk.NewChangeId),
                Is.EqualTo((2000, "export-a", VmaSyncStates.Copying, "*", "52 de/4")));
            Assert.That((disk.DataBytesSent, disk.ZeroBytesSent, disk.ExtentsTotal, disk.ExtentsDone, disk.Checkpoint),
                Is.EqualTo((30L, 10L, 3, 1, 4096L)));
            Assert.That(JsonSerializer.Serialize(progress, Web), Does.Not.Contain("isFinal"), "derived, not on the wire");
        });
    }
}
