using System.Text.Json;

namespace MigrateKit.Tests.Volume.Ossea;

/// <summary>
/// Finds the read-only CloudStack fixtures in the shared folder next to the repository
/// (<c>&lt;repo&gt;/../shared/fixtures/cloudstack</c>; from a git worktree the folder may sit next to
/// an ancestor instead, so every ancestor's sibling <c>shared</c> is tried).
/// </summary>
internal static class OsseaFixtures
{
    private static readonly Lazy<string> Directory = new(Locate);

    public static string Root => Directory.Value;

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Read(string relative)
    {
        var path = PathOf(relative);
        if (!File.Exists(path))
        {
            Assert.Fail($"CloudStack fixture '{relative}' is missing under {Root}.");
        }

        return File.ReadAllText(path);
    }

    public static JsonDocument Parse(string relative) => JsonDocument.Parse(Read(relative));

    private static string Locate()
    {
        var explicitShared = Environment.GetEnvironmentVariable("MIGRATEKIT_SHARED_DIR");
        if (!string.IsNullOrEmpty(explicitShared))
        {
            return Check(Path.Combine(explicitShared, "fixtures", "cloudstack"));
        }

        var repo = Environment.GetEnvironmentVariable("MIGRATEKIT_REPO_ROOT");
        var start = !string.IsNullOrEmpty(repo) ? new DirectoryInfo(repo) : FindSolutionFolder();
        if (start is null)
        {
            Assert.Fail($"No folder containing MigrateKit.sln above {AppContext.BaseDirectory}; set MIGRATEKIT_REPO_ROOT.");
        }

        for (var dir = start; dir?.Parent is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.Parent.FullName, "shared", "fixtures", "cloudstack");
            if (System.IO.Directory.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"The CloudStack fixtures were not found: expected {Path.Combine(start!.FullName, "..", "shared", "fixtures", "cloudstack")} " +
            "(or set MIGRATEKIT_SHARED_DIR to the shared folder).");
        return null!;
    }

    private static DirectoryInfo? FindSolutionFolder()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MigrateKit.sln")))
            {
                return dir;
            }
        }

        return null;
    }

    private static string Check(string path)
    {
        if (!System.IO.Directory.Exists(path))
        {
            Assert.Fail($"MIGRATEKIT_SHARED_DIR points at a folder without fixtures/cloudstack: {path}");
        }

        return path;
    }
}
