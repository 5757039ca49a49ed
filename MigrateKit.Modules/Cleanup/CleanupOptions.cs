using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Cleanup;

/// <summary>Configuration section "Cleanup".</summary>
internal sealed class CleanupOptions
{
    /// <summary>How often the worker looks for cleanups to run (a request wakes it at once).</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(2);

    public static CleanupOptions From(IConfiguration configuration)
    {
        var options = new CleanupOptions();
        configuration.GetSection("Cleanup").Bind(options);
        if (options.ScanInterval <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Cleanup:ScanInterval must be positive.");
        }
        return options;
    }
}
