using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Install;

/// <summary>
/// The output of one <c>scripts/publish</c> run, shared by the install tests: publishing both
/// programs self-contained takes minutes on a busy machine, so it happens once per test process.
/// Intermediate files stay cached in .artifacts/publish, which makes later runs incremental.
/// </summary>
internal sealed class ReleaseArtifacts
{
    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static ReleaseArtifacts? _published;

    private ReleaseArtifacts(string directory, string version, string publishOutput)
    {
        OutputDirectory = directory;
        Version = version;
        PublishOutput = publishOutput;
    }

    /// <summary>The --output directory of the publish run.</summary>
    public string OutputDirectory { get; }

    /// <summary>VERSION.txt's version.</summary>
    public string Version { get; }

    /// <summary>What scripts/publish printed on stdout (the artifact list).</summary>
    public string PublishOutput { get; }

    public string OmaDirectory => Path.Combine(OutputDirectory, $"migratekit-oma-{Version}-linux-x64");
    public string OmaArchive => OmaDirectory + ".tar.gz";
    public string OmaBinary => Path.Combine(OmaDirectory, "migratekit-oma");
    public string VmaBinary => Path.Combine(OutputDirectory, $"migratekit-vma-{Version}-linux-x64");

    public static string Script(string name) => Path.Combine(RepoPaths.Root, "scripts", name);

    public static async Task<ReleaseArtifacts> GetAsync(CancellationToken ct)
    {
        await Gate.WaitAsync(ct);
        try
        {
            if (_published is not null)
            {
                return _published;
            }
            var version = (await File.ReadAllTextAsync(Path.Combine(RepoPaths.Root, "VERSION.txt"), ct)).Trim();
            var output = TestDirectories.Create("dist");
            // A cold self-contained publish of both programs takes ~4-5 minutes on 2 shared cores;
            // an incremental one well under that. The bound only keeps a hung build from hanging CI.
            await using var publish = await ExternalProcess.RunAsync(Script("publish"), ["--output", output],
                TimeSpan.FromMinutes(12), ct: ct);
            if (publish.ExitCode != 0)
            {
                throw new InvalidOperationException($"scripts/publish failed: {publish}");
            }
            _published = new ReleaseArtifacts(output, version, publish.StandardOutput);
            return _published;
        }
        finally
        {
            Gate.Release();
        }
    }
}
