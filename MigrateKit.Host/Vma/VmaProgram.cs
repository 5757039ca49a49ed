using System.CommandLine;
using MigrateKit.Host.Vma.Cli;

namespace MigrateKit.Host.Vma;

/// <summary>The VMA agent: `run` (default), `enroll`, `vms`, `copy`, `forward`, `--version`.</summary>
public static class VmaProgram
{
    public static int Main(string[] args) => BuildRootCommand().Parse(args).Invoke();

    internal static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("MigrateKit VMA agent: vCenter discovery, CBT, snapshots, and streaming changed blocks to the OMA.");
        root.Add(VmaCliOptions.Config);
        root.Add(RunCommand.Create());
        root.SetAction((parseResult, ct) => RunCommand.RunAsync(parseResult, ct));
        root.Add(EnrollCommand.Create());
        root.Add(VmsCommand.Create());
        root.Add(CopyCommand.Create());
        root.Add(ForwardCommand.Create());
        root.Add(TunnelBenchCommand.Create());
        return root;
    }
}
