using System.Runtime.Versioning;
using System.Text.Json;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Install;

/// <summary>scripts/publish: artifact names, versions, and that both programs are self-contained.</summary>
[TestFixture]
[SupportedOSPlatform("linux")] // bash scripts, systemd units and Unix file modes
[NonParallelizable] // shares one long scripts/publish run (ReleaseArtifacts) and the machine's 2 cores with it
[Category(TestKind.Install)]
public sealed class PublishTests
{
    private ReleaseArtifacts _artifacts = null!;

    [OneTimeSetUp]
    public async Task PublishOnce() => _artifacts = await ReleaseArtifacts.GetAsync(CancellationToken.None);

    [Test]
    public void Artifacts_CarryTheVersionOfVersionTxt()
    {
        Assert.Multiple(() =>
        {
            Assert.That(_artifacts.Version, Does.Match(@"^\d+\.\d+\.\d+"));
            Assert.That(Directory.Exists(_artifacts.OmaDirectory), Is.True, _artifacts.OmaDirectory);
            Assert.That(File.Exists(_artifacts.OmaArchive), Is.True, _artifacts.OmaArchive);
            Assert.That(File.Exists(_artifacts.VmaBinary), Is.True, _artifacts.VmaBinary);
            Assert.That(File.Exists(Path.Combine(_artifacts.OutputDirectory, "SHA256SUMS")), Is.True);
            // The publish run lists every artifact with its size.
            Assert.That(_artifacts.PublishOutput, Does.Contain(_artifacts.OmaArchive));
            Assert.That(_artifacts.PublishOutput, Does.Contain(_artifacts.VmaBinary));
        });
    }

    [Test]
    public async Task Binaries_PrintTheVersion()
    {
        await using var oma = await ExternalProcess.RunAsync(_artifacts.OmaBinary, ["--version"], TimeSpan.FromSeconds(30));
        await using var vma = await ExternalProcess.RunAsync(_artifacts.VmaBinary, ["--version"], TimeSpan.FromSeconds(30));
        Assert.Multiple(() =>
        {
            Assert.That(oma.ExitCode, Is.Zero, oma.ToString());
            Assert.That(oma.StandardOutput.Trim(), Is.EqualTo(_artifacts.Version));
            Assert.That(vma.ExitCode, Is.Zero, vma.ToString());
            Assert.That(vma.StandardOutput.Trim(), Is.EqualTo(_artifacts.Version));
        });
    }

    [Test]
    public async Task OmaArtifact_IsSelfContained_AndTheArchiveHoldsTheSameDirectory()
    {
        // A self-contained runtimeconfig lists the frameworks it carries instead of one to look up.
        using var config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_artifacts.OmaDirectory, "migratekit-oma.runtimeconfig.json")));
        var options = config.RootElement.GetProperty("runtimeOptions");
        await using var list = await ExternalProcess.RunAsync("tar", ["-tzf", _artifacts.OmaArchive], TimeSpan.FromSeconds(60));
        var top = $"migratekit-oma-{_artifacts.Version}-linux-x64/";
        Assert.Multiple(() =>
        {
            Assert.That(options.TryGetProperty("includedFrameworks", out _), Is.True, config.RootElement.ToString());
            Assert.That(options.TryGetProperty("framework", out _), Is.False);
            Assert.That(File.Exists(Path.Combine(_artifacts.OmaDirectory, "libcoreclr.so")), Is.True);
            Assert.That(list.ExitCode, Is.Zero, list.ToString());
            var entries = list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.That(entries, Has.All.StartWith(top));
            Assert.That(entries, Does.Contain(top + "migratekit-oma"));
            Assert.That(entries, Does.Contain(top + "libcoreclr.so"));
        });
    }

    [Test]
    public async Task VmaArtifact_IsOneFile_ThatRunsAloneInAnEmptyDirectory()
    {
        // Copied alone, with no .NET installation to be found, it must still start: the runtime is inside.
        var alone = TestDirectories.Create("vma-alone");
        var copy = Path.Combine(alone, "migratekit-vma");
        File.Copy(_artifacts.VmaBinary, copy);
        File.SetUnixFileMode(copy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var environment = new Dictionary<string, string>
        {
            ["DOTNET_ROOT"] = Path.Combine(alone, "no-dotnet"),
            ["PATH"] = "/nonexistent",
            ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = Path.Combine(alone, "extract"),
        };
        await using var run = await ExternalProcess.RunAsync(copy, ["--version"], TimeSpan.FromSeconds(30), environment);
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            Assert.That(run.StandardOutput.Trim(), Is.EqualTo(_artifacts.Version));
            Assert.That(new FileInfo(_artifacts.VmaBinary).Length, Is.GreaterThan(20L * 1024 * 1024),
                "a self-contained single file carries the runtime; a framework-dependent apphost is tiny");
        });
    }
}
