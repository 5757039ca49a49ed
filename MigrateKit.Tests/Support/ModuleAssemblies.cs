using System.Reflection;

namespace MigrateKit.Tests.Support;

internal static class ModuleAssemblies
{
    public static Assembly Core => typeof(MigrateKit.Modules.Core.CoreModule).Assembly;
    public static Assembly Transport => typeof(MigrateKit.Modules.Transport.TransportAssembly).Assembly;
    public static Assembly Agents => typeof(MigrateKit.Modules.Agents.AgentsModule).Assembly;
    public static Assembly Volume => typeof(MigrateKit.Modules.Volume.VolumeModule).Assembly;
    public static Assembly Replication => typeof(MigrateKit.Modules.Replication.ReplicationModule).Assembly;
    public static Assembly Failover => typeof(MigrateKit.Modules.Failover.FailoverModule).Assembly;
    public static Assembly Cleanup => typeof(MigrateKit.Modules.Cleanup.CleanupModule).Assembly;
    public static Assembly Vma => typeof(MigrateKit.Modules.Vma.VmaModule).Assembly;
    public static Assembly VmaContracts => typeof(MigrateKit.Modules.VmaContracts.VmaSyncStates).Assembly;

    public static IReadOnlyList<Assembly> All => [Core, Transport, Agents, Volume, Replication, Failover, Cleanup, Vma, VmaContracts];

    /// <summary>The business modules of the OMA, by name.</summary>
    public static IReadOnlyDictionary<string, Assembly> OmaModules => new Dictionary<string, Assembly>
    {
        ["Agents"] = Agents,
        ["Volume"] = Volume,
        ["Replication"] = Replication,
        ["Failover"] = Failover,
        ["Cleanup"] = Cleanup,
    };
}
