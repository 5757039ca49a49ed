using System.CommandLine;
using System.Net;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Host.Vma.Cli;

/// <summary><c>forward --listen 127.0.0.1:PORT --service nbd</c>: a local port into an OMA service, like ssh -L.</summary>
internal static class ForwardCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen") { Description = "Loopback address to listen on, 127.0.0.1:PORT.", Required = true };
        var service = new Option<string>("--service") { Description = "OMA tunnel service to forward to.", DefaultValueFactory = _ => "nbd" };
        var oma = AgentTunnelOptions.Oma();
        var stateDir = AgentTunnelOptions.StateDir();
        var command = new Command("forward", "Forward a local (loopback) port through the tunnel to an OMA service until Ctrl+C.")
        {
            listen, service, oma, stateDir,
        };
        command.SetAction((parse, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = VmaCliOptions.BuildConfiguration(parse);
            if (!IPEndPoint.TryParse(parse.GetValue(listen)!, out var endPoint) || !IPAddress.IsLoopback(endPoint.Address))
            {
                throw new VmaCliException($"--listen '{parse.GetValue(listen)}' must be a loopback ADDRESS:PORT");
            }
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true));
            await using var client = await AgentTunnelOptions.ConnectAsync(parse.GetValue(oma), parse.GetValue(stateDir), configuration, loggers,
                TimeSpan.FromSeconds(30), ct);
            Console.Error.WriteLine($"forwarding {endPoint} to OMA service '{parse.GetValue(service)}'; Ctrl+C stops");
            await TunnelForwarder.RunAsync(client, endPoint, parse.GetValue(service)!, loggers.CreateLogger("forward"), ct);
            return 0;
        }));
        return command;
    }
}
