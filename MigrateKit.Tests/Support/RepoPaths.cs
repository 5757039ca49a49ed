namespace MigrateKit.Tests.Support;

/// <summary>Finds the repository (the folder holding MigrateKit.sln) and the shared reference data beside it.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> RootLazy = new(FindRoot);

    public static string Root => RootLazy.Value;

    /// <summary>../shared/fixtures, the read-only reference data next to the repository.</summary>
    public static string SharedFixtures
    {
        get
        {
            var path = Path.GetFullPath(Path.Combine(Root, "..", "shared", "fixtures"));
            if (!Directory.Exists(path))
            {
                throw new DirectoryNotFoundException($"Reference fixtures not found at {path}: the repository must sit beside ../shared.");
            }
            return path;
        }
    }

    private static string FindRoot()
    {
        if (Environment.GetEnvironmentVariable("MIGRATEKIT_REPO_ROOT") is { Length: > 0 } fromEnv && File.Exists(Path.Combine(fromEnv, "MigrateKit.sln")))
        {
            return fromEnv;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MigrateKit.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("Cannot find MigrateKit.sln above the test assembly; set MIGRATEKIT_REPO_ROOT.");
    }
}
