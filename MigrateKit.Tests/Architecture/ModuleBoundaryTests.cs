using System.Reflection;
using System.Text.RegularExpressions;
using MigrateKit.Tests.Support;
using NetArchTest.Rules;

namespace MigrateKit.Tests.Architecture;

/// <summary>
/// Module boundaries. Separate assemblies with internal types make most of this a compile-time
/// fact; these rules are the backstop (and catch public types that should not be).
/// </summary>
[Parallelizable]
[Category(TestKind.Unit)]
public class ModuleBoundaryTests
{
    /// <summary>Who owns which table (db/README.md). A module's SQL names only its own tables.</summary>
    private static readonly Dictionary<System.Reflection.Assembly, string[]> TableOwners = new()
    {
        [ModuleAssemblies.Core] = ["jobs", "job_steps", "job_log", "admin_tokens"],
        [ModuleAssemblies.Agents] = ["vma_agents", "vma_enrollment_tokens"],
        [ModuleAssemblies.Volume] = ["ossea_configs", "ossea_volumes", "device_mappings", "nbd_exports", "volume_operations", "cloudstack_job_tracking"],
        [ModuleAssemblies.Replication] = ["replication_jobs", "vm_disks", "cbt_history"],
        [ModuleAssemblies.Failover] = ["failover_jobs", "failover_snapshots"],
    };

    public static IEnumerable<TestCaseData> ModulePairs() =>
        from source in ModuleAssemblies.OmaModules.Keys
        from target in ModuleAssemblies.OmaModules.Keys
        where source != target
        select new TestCaseData(source, target).SetArgDisplayNames($"{source}->{target}");

    [TestCaseSource(nameof(ModulePairs))]
    public void A_module_uses_another_module_only_through_its_contracts(string from, string to)
    {
        var forbidden = NonContractTypeNames(ModuleAssemblies.OmaModules[to]);
        var result = Types.InAssembly(ModuleAssemblies.OmaModules[from]).ShouldNot().HaveDependencyOnAny(forbidden).GetResult();
        Assert.That(result.FailingTypeNames, Is.Null.Or.Empty);
    }

    [Test]
    public void Only_contracts_and_the_module_entry_point_are_public()
    {
        foreach (var (name, assembly) in ModuleAssemblies.OmaModules)
        {
            var leaked = assembly.GetExportedTypes()
                .Where(t => !t.Namespace!.EndsWith(".Contracts", StringComparison.Ordinal) && t.Name != $"{name}Module")
                .Select(t => t.FullName);
            Assert.That(leaked, Is.Empty, $"{name} exposes non-contract types");
        }
    }

    [Test]
    public void The_ossea_client_is_internal_to_the_volume_module()
    {
        var osseaTypes = ModuleAssemblies.All.SelectMany(a => a.GetTypes())
            .Where(t => t.Namespace?.Contains(".Ossea", StringComparison.Ordinal) == true).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(osseaTypes.Where(t => t.Assembly != ModuleAssemblies.Volume).Select(t => t.FullName), Is.Empty);
            Assert.That(osseaTypes.Where(t => t.IsVisible).Select(t => t.FullName), Is.Empty);
        });
    }

    [Test]
    public void Each_module_names_only_its_own_tables_in_sql()
    {
        // Rule 1 of the design for the Volume tables, and the same discipline for every module.
        var offenders = new List<string>();
        foreach (var assembly in ModuleAssemblies.All)
        {
            var foreign = TableOwners.Where(o => o.Key != assembly).SelectMany(o => o.Value).ToList();
            foreach (var (field, sql) in SqlConstants(assembly))
            {
                offenders.AddRange(foreign.Where(t => Regex.IsMatch(sql, $@"\b{t}\b")).Select(t => $"{field} names {t}"));
            }
        }
        Assert.That(offenders, Is.Empty);
    }

    [Test]
    public void Every_table_of_the_schema_has_an_owner()
    {
        var owned = TableOwners.Values.SelectMany(t => t).ToHashSet();
        var tables = Directory.GetFiles(Path.Combine(RepoPaths.Root, "db", "migrations"), "*.sql")
            .SelectMany(f => Regex.Matches(File.ReadAllText(f), @"CREATE TABLE IF NOT EXISTS (\w+)").Select(m => m.Groups[1].Value));
        Assert.That(tables.Where(t => !owned.Contains(t)), Is.Empty);
    }

    [Test]
    public void Transport_depends_on_no_module()
    {
        var references = ModuleAssemblies.Transport.GetReferencedAssemblies().Select(a => a.Name!);
        Assert.That(references.Where(r => r.StartsWith("MigrateKit.", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void Cleanup_references_only_core_and_the_failover_module()
    {
        // Cleanup has the Failover module undo a failover (UndoFailoverCommand); it never drives OSSEA volumes or replications itself.
        var references = ModuleAssemblies.Cleanup.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("MigrateKit.", StringComparison.Ordinal));
        Assert.That(references, Is.SubsetOf(new[] { "MigrateKit.Modules.Core", "MigrateKit.Modules.Failover" }));
    }

    [Test]
    public void The_vma_agent_references_only_core_transport_and_vma()
    {
        var agent = typeof(MigrateKit.Host.Vma.VmaProgram).Assembly;
        var allowed = new[] { "MigrateKit.Modules.Core", "MigrateKit.Modules.Transport", "MigrateKit.Modules.Vma", "MigrateKit.Modules.VmaContracts" };
        var project = agent.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("MigrateKit.", StringComparison.Ordinal));
        var vmaModule = ModuleAssemblies.Vma.GetReferencedAssemblies().Select(a => a.Name!).Where(n => n.StartsWith("MigrateKit.", StringComparison.Ordinal));
        Assert.Multiple(() =>
        {
            Assert.That(project, Is.SubsetOf(allowed));
            Assert.That(vmaModule, Is.SubsetOf(allowed));
        });
    }

    [Test]
    public void The_vma_contracts_reference_nothing_but_the_bcl()
    {
        // Both the agent and the OMA take this assembly: whatever it referenced, both would carry.
        var runtime = System.Runtime.InteropServices.RuntimeEnvironment.GetRuntimeDirectory();
        var outside = ModuleAssemblies.VmaContracts.GetReferencedAssemblies().Select(a => a.Name!)
            .Where(n => !File.Exists(Path.Combine(runtime, n + ".dll")));
        var project = File.ReadAllText(Path.Combine(RepoPaths.Root, "MigrateKit.Modules", "VmaContracts", "MigrateKit.Modules.VmaContracts.csproj"));
        Assert.Multiple(() =>
        {
            Assert.That(outside, Is.Empty, "assemblies outside Microsoft.NETCore.App");
            Assert.That(Regex.Matches(project, @"<(PackageReference|ProjectReference|FrameworkReference|Reference)\b").Select(m => m.Value), Is.Empty);
        });
    }

    [Test]
    public void The_vma_contracts_are_records_and_state_names_only()
    {
        var types = ModuleAssemblies.VmaContracts.GetTypes().Where(t => !t.Name.StartsWith('<')).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(types.Where(t => t.Namespace != "MigrateKit.Modules.VmaContracts" || !t.IsPublic).Select(t => t.FullName), Is.Empty);
            // A record has a compiler-made EqualityContract; a static class of constants is the only other shape.
            Assert.That(types.Where(t => !(t.IsSealed && t.IsAbstract)
                    && t.GetProperty("EqualityContract", BindingFlags.Instance | BindingFlags.NonPublic) is null)
                .Select(t => t.FullName), Is.Empty);
        });
    }

    [Test]
    public void Only_replication_speaks_the_vma_api_on_the_oma()
    {
        var speakers = ModuleAssemblies.OmaModules
            .Where(m => m.Value.GetReferencedAssemblies().Any(a => a.Name == "MigrateKit.Modules.VmaContracts"))
            .Select(m => m.Key);
        Assert.That(speakers, Is.EquivalentTo(new[] { "Replication" }));
    }

    [Test]
    public void Operation_logic_does_not_log_ad_hoc()
    {
        // Handlers and runs record what they do in the job log; only infrastructure (edges, protocols,
        // the workers and runners that host a run and report its crash) logs.
        foreach (var assembly in ModuleAssemblies.OmaModules.Values)
        {
            var result = Types.InAssembly(assembly).That().ResideInNamespaceMatching(OperationLogicNamespaces)
                .And().DoNotHaveNameEndingWith("Worker").And().DoNotHaveNameEndingWith("Runner")
                .ShouldNot().HaveDependencyOn("Microsoft.Extensions.Logging").GetResult();
            Assert.That(result.FailingTypeNames, Is.Null.Or.Empty, assembly.GetName().Name);
        }
    }

    [Test]
    public void The_logging_rule_covers_the_operation_logic_of_every_module()
    {
        // A rule that matches nothing checks nothing: each module with operations must be in scope,
        // and so must the long runs of failover, cleanup and replication.
        string[] covered = ModuleAssemblies.OmaModules.Values
            .SelectMany(a => Types.InAssembly(a).That().ResideInNamespaceMatching(OperationLogicNamespaces).GetTypes())
            .Select(t => t.FullName!)
            .ToArray();
        foreach (var module in new[] { "Agents", "Volume", "Replication", "Failover", "Cleanup" })
            Assert.That(covered, Has.Some.StartsWith($"MigrateKit.Modules.{module}.Features"), module);
        Assert.That(covered, Has.Some.StartsWith("MigrateKit.Modules.Failover.Run."));
        // The undo of a failover (its rollback and its cleanup) is one run of the Failover module.
        Assert.That(covered, Has.Some.StartsWith("MigrateKit.Modules.Failover.Run.FailoverUndo"));
        Assert.That(covered, Has.Some.StartsWith("MigrateKit.Modules.Replication.Sync."));
    }

    // Every folder that holds operation logic: vertical-slice features (any depth) and the long runs.
    private const string OperationLogicNamespaces = @"\.(Features|Run|Sync)(\.|$)";

    internal static IEnumerable<(string Field, string Sql)> SqlConstants(Assembly assembly) =>
        assembly.GetTypes()
            .SelectMany(t => t.GetFields(BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            .Where(f => f is { IsLiteral: true } && f.FieldType == typeof(string) && f.Name.EndsWith("Sql", StringComparison.Ordinal))
            .Select(f => ($"{f.DeclaringType!.FullName}.{f.Name}", (string)f.GetRawConstantValue()!));

    private static string[] NonContractTypeNames(Assembly assembly) =>
        assembly.GetTypes()
            .Where(t => t.FullName is not null && t.Namespace?.Contains(".Contracts", StringComparison.Ordinal) != true && !t.Name.StartsWith('<'))
            .Select(t => t.FullName!)
            .ToArray();
}
