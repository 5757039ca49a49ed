using System.Globalization;
using System.Runtime.Versioning;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.LabStory;

/// <summary>
/// The README's run command, as a newcomer runs it: scripts/lab as a process, the whole story
/// (replication, test failover, cleanup, live failover) with every real peer, then nothing left behind.
/// </summary>
[TestFixture]
[SupportedOSPlatform("linux")] // bash, loop devices, debugfs
[NonParallelizable] // loop devices, its own MariaDB and every peer of the story; it also rebuilds the binaries it runs
[Category(TestKind.Lab)]
public sealed class LabScriptTests
{
    private static readonly TimeSpan LabTimeout = TimeSpan.FromMinutes(20);

    private static readonly string[] Steps =
    [
        "start the vCenter simulator", "create the source disks", "start the OSSEA emulator", "start the OMA",
        "enroll and start the VMA agent", "add the OSSEA config", "full replication", "change files on the source",
        "incremental sync", "test failover", "clean up the test failover", "change files before the cutover", "live failover",
    ];

    [Test]
    public async Task Scripts_lab_runs_the_whole_story_and_stops_everything_it_started()
    {
        if (Environment.UserName != "root")
        {
            Assert.Ignore("scripts/lab needs root (the OSSEA emulator's loop devices); run the suite as root to include it");
        }
        var root = RepoPaths.Root;
        var lab = Path.Combine(Environment.GetEnvironmentVariable("MIGRATEKIT_RUN_DIR") is { Length: > 0 } run ? run : Path.Combine(root, ".run"), "lab");

        await using var script = ExternalProcess.Start("bash", [Path.Combine(root, "scripts", "lab")], workingDirectory: root);
        using (var timeout = new CancellationTokenSource(LabTimeout))
        {
            try
            {
                await script.WaitForExitAsync(Timeout.InfiniteTimeSpan, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                // Ask it to stop the way Ctrl-C would, so it stops its peers and its MariaDB; then give up.
                await using (await ExternalProcess.RunAsync("kill", ["-TERM", script.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5)))
                {
                }
                await script.WaitForExitAsync(TimeSpan.FromMinutes(1));
                Assert.Fail($"scripts/lab did not finish within {LabTimeout}:\n{script}");
            }
        }
        var output = script.StandardOutput;
        await TestContext.Out.WriteLineAsync(output);

        Assert.That(script.ExitCode, Is.Zero, script.ToString());
        var lines = output.Split('\n');
        Assert.Multiple(() =>
        {
            foreach (var step in Steps)
            {
                Assert.That(lines, Has.Some.StartsWith($"ok   {step}: "), $"step '{step}' passed");
            }
            Assert.That(lines.Single(l => l.StartsWith("ok   full replication: ", StringComparison.Ordinal)), Does.Contain("every target equals its source").And.Contain(" sent in "));
            Assert.That(lines.Single(l => l.StartsWith("ok   incremental sync: ", StringComparison.Ordinal)), Does.Contain("every target equals its source").And.Contain(" sent in "));
            Assert.That(lines.Single(l => l.StartsWith("ok   live failover: ", StringComparison.Ordinal)), Does.Contain("/docs/cutover.txt"));
            Assert.That(lines, Has.Some.StartsWith("lab passed: 13 steps in "));
            Assert.That(lines, Has.None.StartsWith("FAIL"));
        });

        // Nothing it started is left: no recorded peer alive, no loop device over the emulator's volumes, MariaDB stopped.
        var pids = File.ReadAllLines(Path.Combine(lab, "pids")).Select(l => int.Parse(l.Split(' ')[0], CultureInfo.InvariantCulture)).ToList();
        Assert.That(pids, Has.Count.EqualTo(3), "the simulator, the OMA and the VMA agent were recorded");
        await using var loops = await ExternalProcess.RunAsync("losetup", ["--list", "--noheadings", "--output", "BACK-FILE"], TimeSpan.FromSeconds(10));
        await using var db = await ExternalProcess.RunAsync("bash", [Path.Combine(root, "scripts", "db"), "status"], TimeSpan.FromSeconds(10),
            new Dictionary<string, string> { ["MIGRATEKIT_RUN_DIR"] = lab });
        Assert.Multiple(() =>
        {
            Assert.That(pids.Where(p => Directory.Exists($"/proc/{p}")), Is.Empty, "every peer stopped");
            Assert.That(loops.StandardOutput, Does.Not.Contain(Path.Combine(lab, "ossea")), "every loop device detached");
            Assert.That(db.ExitCode, Is.Not.Zero, $"the lab's MariaDB stopped: {db}");
            Assert.That(File.Exists(Path.Combine(lab, "driver.pid")), Is.False);
        });
    }
}
