namespace MigrateKit.Tests.Support;

/// <summary>Scratch directories for one test run, removed when the run ends.</summary>
internal static class TestDirectories
{
    private static readonly Lazy<string> RunRoot = new(() =>
    {
        var root = Path.Combine(Path.GetTempPath(), "migratekit-tests", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(root);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return root;
    });

    /// <summary>A new empty directory.</summary>
    public static string Create(string purpose)
    {
        var path = Path.Combine(RunRoot.Value, $"{purpose}-{Guid.NewGuid():N}"[..Math.Min(purpose.Length + 9, 64)]);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>The secret key file the test services share (the OMA creates it on first use).</summary>
    public static string SecretKeyFile { get; } = Path.Combine(RunRoot.Value, "secrets.key");
}
