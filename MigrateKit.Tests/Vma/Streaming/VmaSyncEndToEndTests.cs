using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;

namespace MigrateKit.Tests.Vma.Streaming;

/// <summary>
/// Syncs end to end with every real peer: the vCenter simulator (CBT answers from its file),
/// the real agent (local images read directly), the tunnel with enrolled certificates, the real OMA
/// NBD server writing into loop devices of the OSSEA emulator, and qemu-img to compare.
/// The OMA drives the agent as it will in production: HTTP over "vma-api" tunnel streams.
/// </summary>
[Category(TestKind.EndToEnd)]
public sealed class VmaSyncEndToEndTests : SimulatedVmTest
{
    private const long MiB = 1024 * 1024;

    private static object Disk(int key, string export, string changeId, long start = 0) =>
        new { deviceKey = key, exportName = export, changeId, startOffset = start };

    private async Task<JsonElement> CreateSnapshotAsync(HttpClient oma, string name)
    {
        var (status, snapshot) = await oma.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots", new { name });
        Assert.That(status, Is.EqualTo(201), snapshot.ToString());
        return snapshot;
    }

    private static string ChangeIdOf(JsonElement snapshot, int key) =>
        snapshot.GetProperty("disks").EnumerateArray().Single(d => d.GetProperty("deviceKey").GetInt32() == key).GetProperty("changeId").GetString()!;

    private static JsonElement DiskOf(JsonElement progress, int key) =>
        progress.GetProperty("disks").EnumerateArray().Single(d => d.GetProperty("deviceKey").GetInt32() == key);

    [Test]
    public async Task The_vms_verb_lists_what_vcenter_shows()
    {
        var dir = TestDirectories.Create("vma-config");
        var config = Path.Combine(dir, "vma.json");
        await File.WriteAllTextAsync(config, JsonSerializer.Serialize(new
        {
            VSphere = new { Address = Sim.Url.ToString(), User = VcSimInstance.User, PasswordFile = Sim.PasswordFile, Thumbprint = Sim.Thumbprint },
        }));
        var output = new StringWriter();
        var previous = Spectre.Console.AnsiConsole.Console;
        Spectre.Console.AnsiConsole.Console = Spectre.Console.AnsiConsole.Create(new Spectre.Console.AnsiConsoleSettings
        {
            Out = new Spectre.Console.AnsiConsoleOutput(output),
            Interactive = Spectre.Console.InteractionSupport.No,
        });
        Spectre.Console.AnsiConsole.Console.Profile.Width = 240; // no wrapped cells, whatever the test host's terminal
        try
        {
            var rc = await MigrateKit.Host.Vma.VmaProgram.BuildRootCommand().Parse(["vms", "--config", config]).InvokeAsync();
            var missing = await MigrateKit.Host.Vma.VmaProgram.BuildRootCommand().Parse(["vms", "--config", Path.Combine(dir, "none.json")]).InvokeAsync();
            Assert.Multiple(() =>
            {
                Assert.That(rc, Is.Zero);
                Assert.That(output.ToString(), Does.Contain("mk-multi-disk").And.Contain(Vm.Ref.Value));
                Assert.That(missing, Is.EqualTo(2));
            });
        }
        finally
        {
            Spectre.Console.AnsiConsole.Console = previous;
        }
    }

    [Test]
    public async Task A_full_then_an_incremental_sync_make_both_targets_equal_their_sources_and_send_only_what_changed()
    {
        var dir = TestDirectories.Create("vma-images");
        var size = 64 * MiB;
        // Disk A: data, a hole, data, explicit zeroes (allocated), data at the very end.
        (long, long)[] dataA = [(0, 3 * MiB), (10 * MiB + 4096, 5 * MiB), (63 * MiB, MiB)];
        var imageA = TestImages.Create(dir, "a.raw", size, dataA);
        TestImages.Zero(imageA, 30 * MiB, 4 * MiB);
        (long, long)[] dataB = [(MiB, 8 * MiB), (40 * MiB, 512 * 1024)];
        var imageB = TestImages.Create(dir, "b.raw", size, dataB);
        var keyA = Vm.Disks[0].DeviceKey;
        var keyB = Vm.Disks[1].DeviceKey;

        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-e2e",
            [(Vm.Ref.Value, keyA, imageA), (Vm.Name, keyB, imageB)]);
        using var oma = VmaTestAgent.OmaClientFor(env, agent.Name);

        var vms = await oma.GetJsonAsync("api/v1/vms");
        var health = await agent.Local.GetJsonAsync("api/v1/health");
        var path = Uri.EscapeDataString(Vm.InventoryPath);
        var spec = await oma.GetJsonAsync($"api/v1/vms/{path}");
        Assert.Multiple(() =>
        {
            Assert.That(vms.EnumerateArray().Select(v => v.GetProperty("name").GetString()), Does.Contain("mk-multi-disk"));
            Assert.That(health.GetProperty("tunnel").GetProperty("state").GetString(), Is.EqualTo("connected"));
            Assert.That(health.GetProperty("vCenter").GetProperty("reachable").GetBoolean(), Is.True);
            Assert.That(spec.GetProperty("moref").GetString(), Is.EqualTo(Vm.Ref.Value), "an inventory path resolves like a moref");
            Assert.That(spec.GetProperty("disks").GetArrayLength(), Is.EqualTo(3));
        });

        var (cbtStatus, cbt) = await oma.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/enable-cbt", null);
        Assert.That(cbtStatus, Is.EqualTo(200), cbt.ToString());
        var snap1 = await CreateSnapshotAsync(oma, "mk-full");
        // "*" answers with the allocated areas: disk A's include the explicit zeroes and one area spanning a hole.
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, keyA, "*", [(0, 3 * MiB), (10 * MiB, 6 * MiB), (30 * MiB, 4 * MiB), (63 * MiB, MiB)]),
            (Vm.Ref.Value, keyB, "*", [(MiB, 8 * MiB), (40 * MiB, 512 * 1024)]));
        var targetA = await VmaTargets.CreateExportAsync(env, "migration-e2e-disk-0");
        var targetB = await VmaTargets.CreateExportAsync(env, "migration-e2e-disk-1");

        var (status, accepted) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "full-1",
            vm = Vm.Ref.Value,
            snapshotId = snap1.GetProperty("snapshotId").GetString(),
            disks = new[] { Disk(keyA, targetA.Export, "*"), Disk(keyB, targetB.Export, "*") },
        });
        Assert.That(status, Is.EqualTo(202), accepted.ToString());
        var full = await oma.WaitForSyncAsync("full-1", TimeSpan.FromSeconds(60));
        var fullA = DiskOf(full, keyA);
        var fullB = DiskOf(full, keyB);
        Assert.Multiple(() =>
        {
            Assert.That(full.GetProperty("state").GetString(), Is.EqualTo("completed"), full.ToString());
            Assert.That(fullA.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(9 * MiB), "only the random data travels as data");
            Assert.That(fullA.GetProperty("zeroBytesSent").GetInt64(), Is.EqualTo(5 * MiB), "the holes and the explicit zeroes go as WRITE_ZEROES");
            Assert.That(fullA.GetProperty("dataBytesSent").GetInt64(), Is.LessThan(size));
            Assert.That(fullB.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(8 * MiB + 512 * 1024));
            Assert.That(fullA.GetProperty("checkpoint").GetInt64(), Is.EqualTo(size), "a finished disk is durable to its end");
            Assert.That(fullA.GetProperty("baseChangeId").GetString(), Is.EqualTo("*"));
            Assert.That(fullA.GetProperty("newChangeId").GetString(), Is.EqualTo(ChangeIdOf(snap1, keyA)));
            Assert.That(fullA.GetProperty("percent").GetDouble(), Is.EqualTo(100));
        });
        await TestImages.AssertSameAsync(imageA, targetA.DevicePath);
        await TestImages.AssertSameAsync(imageB, targetB.DevicePath);

        // VMware's order: change id recorded → old snapshot deleted → next snapshot.
        using (var deleted = await oma.DeleteAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots/{snap1.GetProperty("snapshotId").GetString()}"))
        {
            Assert.That((int)deleted.StatusCode, Is.EqualTo(204));
        }
        var snap2 = await CreateSnapshotAsync(oma, "mk-incr");
        (long, long)[] changedA = [(5 * MiB, MiB), (20 * MiB, 2 * MiB + 4096)];
        TestImages.Fill(imageA, changedA);
        TestImages.Zero(imageA, 0, MiB); // data became zeroes: the area is changed, and must arrive as zeroes
        (long, long)[] changedB = [(2 * MiB, 64 * 1024)];
        TestImages.Fill(imageB, changedB);
        var baseA = fullA.GetProperty("newChangeId").GetString()!;
        var baseB = fullB.GetProperty("newChangeId").GetString()!;
        Sim.WriteChangedAreas(1, // one area per page: paging is part of the path
            (Vm.Ref.Value, keyA, baseA, [(0, MiB), (5 * MiB, MiB), (20 * MiB, 2 * MiB + 4096)]),
            (Vm.Ref.Value, keyB, baseB, [(2 * MiB, 64 * 1024)]));

        (status, accepted) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "incr-1",
            vm = Vm.InventoryPath,
            snapshotId = snap2.GetProperty("snapshotId").GetString(),
            disks = new[] { Disk(keyA, targetA.Export, baseA), Disk(keyB, targetB.Export, baseB) },
        });
        Assert.That(status, Is.EqualTo(202), accepted.ToString());
        var incr = await oma.WaitForSyncAsync("incr-1", TimeSpan.FromSeconds(60));
        var incrA = DiskOf(incr, keyA);
        var incrB = DiskOf(incr, keyB);
        Assert.Multiple(() =>
        {
            Assert.That(incr.GetProperty("state").GetString(), Is.EqualTo("completed"), incr.ToString());
            Assert.That(incrA.GetProperty("extentsTotal").GetInt32(), Is.EqualTo(3));
            Assert.That(incrA.GetProperty("bytesTotal").GetInt64(), Is.EqualTo(4 * MiB + 4096));
            Assert.That(incrA.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(3 * MiB + 4096), "only the changed data");
            Assert.That(incrA.GetProperty("zeroBytesSent").GetInt64(), Is.EqualTo(MiB));
            Assert.That(incrB.GetProperty("extentsTotal").GetInt32(), Is.EqualTo(1));
            Assert.That(incrB.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(64 * 1024));
            Assert.That(incrB.GetProperty("baseChangeId").GetString(), Is.EqualTo(baseB));
            Assert.That(incrB.GetProperty("newChangeId").GetString(), Is.EqualTo(ChangeIdOf(snap2, keyB)));
        });
        await TestImages.AssertSameAsync(imageA, targetA.DevicePath);
        await TestImages.AssertSameAsync(imageB, targetB.DevicePath);
    }

    [Test]
    public async Task A_bandwidth_limit_holds_an_expired_vcenter_session_is_renewed_cancel_stops_and_a_rejected_change_id_is_a_cbt_reset()
    {
        var dir = TestDirectories.Create("vma-images");
        var imageA = TestImages.Create(dir, "a.raw", 16 * MiB, [(0, 16 * MiB)]);
        var imageB = TestImages.Create(dir, "b.raw", 4 * MiB, [(0, 4 * MiB)]);
        var keyA = Vm.Disks[0].DeviceKey;
        var keyB = Vm.Disks[1].DeviceKey;

        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        // One disk at a time, so disk B asks vCenter for its areas only after disk A has copied.
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-limits",
            [(Vm.Ref.Value, keyA, imageA), (Vm.Ref.Value, keyB, imageB)],
            new Dictionary<string, string?>
            {
                ["Vma:Streaming:MaxParallelDisks"] = "1",
                ["Vma:Streaming:CheckpointBytes"] = MiB.ToString(System.Globalization.CultureInfo.InvariantCulture), // flush after every chunk
            });
        using var oma = VmaTestAgent.OmaClientFor(env, agent.Name);
        await oma.PostJsonAsync($"api/v1/vms/{Vm.Ref.Value}/enable-cbt", null);
        var snapshot = (await CreateSnapshotAsync(oma, "mk-limits")).GetProperty("snapshotId").GetString();
        Sim.WriteChangedAreas(0,
            (Vm.Ref.Value, keyA, "*", [(0, 16 * MiB)]),
            (Vm.Ref.Value, keyB, "*", [(0, 4 * MiB)]));
        var targetA = await VmaTargets.CreateExportAsync(env, "limits-disk-0");
        var targetB = await VmaTargets.CreateExportAsync(env, "limits-disk-1");
        var targetC = await VmaTargets.CreateExportAsync(env, "limits-disk-resume");
        var vcenter = agent.Services.GetRequiredService<VSphereClient>();

        // 20 MiB at 4 MiB/s with a 1 MiB burst: about 4.75 s; the session is dropped while disk A copies.
        var clock = Stopwatch.StartNew();
        var (status, body) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "limited",
            vm = Vm.Ref.Value,
            snapshotId = snapshot,
            disks = new[] { Disk(keyA, targetA.Export, "*"), Disk(keyB, targetB.Export, "*") },
            bandwidthLimitBytesPerSecond = 4 * MiB,
        });
        Assert.That(status, Is.EqualTo(202), body.ToString());
        await Task.Delay(TimeSpan.FromSeconds(1));
        var loginsBefore = vcenter.LoginCount;
        var expired = await Sim.ExpireSessionsAsync(CancellationToken.None);
        var limited = await oma.WaitForSyncAsync("limited", TimeSpan.FromSeconds(30));
        clock.Stop();
        Assert.Multiple(() =>
        {
            Assert.That(limited.GetProperty("state").GetString(), Is.EqualTo("completed"), limited.ToString());
            Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(3)), "4 MiB/s over 20 MiB");
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(25)));
            Assert.That(limited.GetProperty("bandwidthLimitBytesPerSecond").GetInt64(), Is.EqualTo(4 * MiB));
            Assert.That(expired, Is.GreaterThanOrEqualTo(1));
            Assert.That(vcenter.LoginCount, Is.GreaterThan(loginsBefore), "disk B's QueryChangedDiskAreas logged in again");
        });
        await TestImages.AssertSameAsync(imageA, targetA.DevicePath);
        await TestImages.AssertSameAsync(imageB, targetB.DevicePath);

        // Cancel: 16 MiB at 1 MiB/s would take 15 s.
        (status, body) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "to-cancel",
            vm = Vm.Ref.Value,
            snapshotId = snapshot,
            disks = new[] { Disk(keyA, targetC.Export, "*") },
            bandwidthLimitBytesPerSecond = MiB,
        });
        Assert.That(status, Is.EqualTo(202), body.ToString());
        var (conflict, _) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "to-cancel",
            vm = Vm.Ref.Value,
            snapshotId = snapshot,
            disks = new[] { Disk(keyA, targetA.Export, "*") },
        });
        // Cancel once a chunk is durable (bounded wait), so there is a checkpoint to resume from.
        var waitClock = Stopwatch.StartNew();
        while (DiskOf(await oma.GetJsonAsync("api/v1/progress/to-cancel"), keyA).GetProperty("checkpoint").GetInt64() == 0)
        {
            Assert.That(waitClock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "no checkpoint within 10 s");
            await Task.Delay(50);
        }
        var cancelClock = Stopwatch.StartNew();
        var (cancelStatus, _) = await oma.PostJsonAsync("api/v1/syncs/to-cancel/cancel", null);
        var cancelled = await oma.WaitForSyncAsync("to-cancel", TimeSpan.FromSeconds(10));
        var cancelledA = DiskOf(cancelled, keyA);
        Assert.Multiple(() =>
        {
            Assert.That(conflict, Is.EqualTo(409), "a running job id cannot start twice");
            Assert.That(cancelStatus, Is.EqualTo(202));
            Assert.That(cancelled.GetProperty("state").GetString(), Is.EqualTo("cancelled"), cancelled.ToString());
            Assert.That(cancelClock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
            Assert.That(cancelledA.GetProperty("bytesDone").GetInt64(), Is.GreaterThan(0).And.LessThan(16 * MiB));
            Assert.That(cancelledA.GetProperty("checkpoint").GetInt64(), Is.GreaterThan(0).And.LessThanOrEqualTo(cancelledA.GetProperty("bytesDone").GetInt64()));
        });

        // Resume from the checkpoint into the same (partly written) target: everything below it must already be there.
        var checkpoint = cancelledA.GetProperty("checkpoint").GetInt64();
        (status, body) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "to-cancel",
            vm = Vm.Ref.Value,
            snapshotId = snapshot,
            disks = new[] { Disk(keyA, targetC.Export, "*", checkpoint) },
        });
        Assert.That(status, Is.EqualTo(202), "a finished job id can be started again: " + body);
        var resumed = await oma.WaitForSyncAsync("to-cancel", TimeSpan.FromSeconds(30));
        Assert.Multiple(() =>
        {
            Assert.That(resumed.GetProperty("state").GetString(), Is.EqualTo("completed"), resumed.ToString());
            Assert.That(DiskOf(resumed, keyA).GetProperty("bytesTotal").GetInt64(), Is.EqualTo(16 * MiB - checkpoint), "areas below the start offset are skipped");
        });
        await TestImages.AssertSameAsync(imageA, targetC.DevicePath);

        // A change id vCenter never issued for this disk: CBT was reset, the OMA must do a full copy.
        (status, body) = await oma.PostJsonAsync("api/v1/syncs", new
        {
            jobId = "reset",
            vm = Vm.Ref.Value,
            snapshotId = snapshot,
            disks = new[] { Disk(keyA, targetA.Export, "52 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00/9") },
        });
        Assert.That(status, Is.EqualTo(202), body.ToString());
        var reset = await oma.WaitForSyncAsync("reset", TimeSpan.FromSeconds(20));
        Assert.Multiple(() =>
        {
            Assert.That(reset.GetProperty("state").GetString(), Is.EqualTo("cbt-reset"), reset.ToString());
            Assert.That(DiskOf(reset, keyA).GetProperty("state").GetString(), Is.EqualTo("cbt-reset"));
            Assert.That(DiskOf(reset, keyA).GetProperty("bytesDone").GetInt64(), Is.Zero);
        });

        // Bad requests are 400 problem details naming the fields.
        var (bad, problem) = await oma.PostJsonAsync("api/v1/syncs", new { jobId = "bad id", disks = Array.Empty<object>() });
        using var missing = await oma.GetAsync("api/v1/progress/nope");
        using var noVm = await oma.GetAsync($"api/v1/vms/{Uri.EscapeDataString("/DC0/vm/nope")}/cbt-status");
        Assert.Multiple(() =>
        {
            Assert.That(bad, Is.EqualTo(400));
            Assert.That(problem.GetProperty("errors").EnumerateObject().Select(p => p.Name), Is.SupersetOf(new[] { "jobId", "vm", "snapshotId", "disks" }));
            Assert.That((int)missing.StatusCode, Is.EqualTo(404));
            Assert.That((int)noVm.StatusCode, Is.EqualTo(404));
        });
    }
}
