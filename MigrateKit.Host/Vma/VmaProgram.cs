using System.CommandLine;
using MigrateKit.Host.Vma.Cli;

namespace MigrateKit.Host.Vma;

public static class VmaProgram
{
    // Minimal wiring for the tunnel benchmark; the lead owns the full command tree.
    public static int Main(string[] args)
    {
        var root = new RootCommand("MigrateKit VMA agent");
        root.Subcommands.Add(TunnelBenchCommand.Create());
        return root.Parse(args).Invoke();
    }
}
