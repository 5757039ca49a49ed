using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Failover;

/// <summary>Configuration section "Failover".</summary>
internal sealed class FailoverOptions
{
    /// <summary>How often the worker looks for failovers to run (a new request wakes it at once).</summary>
    public TimeSpan ScanInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Failovers running at once (different VMs; one VM never has two).</summary>
    public int MaxConcurrent { get; set; } = 4;

    /// <summary>Data volumes an OSSEA VM may have (CloudStack's max_data_volumes_limit; its fallback is 6).</summary>
    public int MaxDataVolumes { get; set; } = 6;

    /// <summary>The virtio-win ISO injected into Windows guests.</summary>
    public string VirtioWinIso { get; set; } = "/usr/share/virtio-win/virtio-win.iso";

    /// <summary>The libguestfs tool that injects the drivers: virt-customize (--inject-virtio-win) or virt-v2v-in-place.</summary>
    public string VirtioTool { get; set; } = "virt-customize";

    /// <summary>How long the driver injection may take.</summary>
    public TimeSpan VirtioTimeout { get; set; } = TimeSpan.FromMinutes(30);

    public static FailoverOptions From(IConfiguration configuration)
    {
        var options = new FailoverOptions();
        configuration.GetSection("Failover").Bind(options);
        if (options.ScanInterval <= TimeSpan.Zero || options.VirtioTimeout <= TimeSpan.Zero)
        {
            throw new InvalidOperationException("Failover:ScanInterval and Failover:VirtioTimeout must be positive.");
        }
        if (options.MaxConcurrent is < 1 or > 64)
        {
            throw new InvalidOperationException("Failover:MaxConcurrent must be between 1 and 64.");
        }
        if (options.MaxDataVolumes is < 0 or > 64)
        {
            throw new InvalidOperationException("Failover:MaxDataVolumes must be between 0 and 64.");
        }
        if (Path.GetFileName(options.VirtioTool) is not ("virt-customize" or "virt-v2v-in-place"))
        {
            throw new InvalidOperationException($"Failover:VirtioTool must be virt-customize or virt-v2v-in-place (a name or a path), not '{options.VirtioTool}'.");
        }
        return options;
    }
}
