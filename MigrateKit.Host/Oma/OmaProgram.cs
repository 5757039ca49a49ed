using System.CommandLine;
using MigrateKit.Host.Oma.Cli;

namespace MigrateKit.Host.Oma;

public static class OmaProgram
{
    // Minimal wiring so nbd-serve can be run from this branch; the lead owns the real composition root.
    public static int Main(string[] args)
    {
        var root = new RootCommand("MigrateKit OMA");
        root.Add(NbdServeCommand.Create());
        return root.Parse(args).Invoke();
    }
}
