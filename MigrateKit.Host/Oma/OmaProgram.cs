using System.CommandLine;
using MigrateKit.Host.Oma.Cli;

namespace MigrateKit.Host.Oma;

/// <summary>The OMA service: `run` (default), `migrate`, `create-token`, and operator tools.</summary>
public static class OmaProgram
{
    public static int Main(string[] args) => BuildRootCommand().Parse(args).Invoke();

    internal static RootCommand BuildRootCommand()
    {
        var root = new RootCommand("MigrateKit OMA: replication, failover and cleanup of VMware VMs onto OSSEA.");
        foreach (var option in OmaOptions.Global)
        {
            root.Add(option);
        }
        var run = RunCommand.Create();
        root.Add(run);
        root.SetAction((parseResult, ct) => RunCommand.RunAsync(parseResult, ct));
        root.Add(MigrateCommand.Create());
        root.Add(CreateTokenCommand.Create());
        root.Add(AgentCommands.EnrollToken());
        root.Add(AgentCommands.Fingerprint());
        root.Add(NbdServeCommand.Create());
        return root;
    }
}
