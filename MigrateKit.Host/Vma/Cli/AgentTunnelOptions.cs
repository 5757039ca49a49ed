using System.CommandLine;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>--oma and --state-dir for verbs that open their own tunnel (copy, forward).</summary>
internal static class AgentTunnelOptions
{
    public const string DefaultStateDirectory = "/var/lib/migratekit-vma";

    public static Option<string?> Oma() => new("--oma") { Description = "OMA tunnel address HOST:PORT (default: Vma:Oma:Host/Port from the configuration)." };

    public static Option<string?> StateDir() => new("--state-dir") { Description = $"Agent credentials directory (default: Vma:Oma:StateDirectory or {DefaultStateDirectory})." };

    public static string StateDirectory(string? option, IConfiguration configuration) =>
        option ?? configuration["Vma:Oma:StateDirectory"] ?? DefaultStateDirectory;

    /// <summary>A started tunnel client with the enrolled credentials, connected (or an error after <paramref name="timeout"/>).</summary>
    public static async Task<TunnelClient> ConnectAsync(string? oma, string? stateDir, IConfiguration configuration, ILoggerFactory loggers,
        TimeSpan timeout, CancellationToken ct)
    {
        string host;
        int port;
        if (oma is not null)
        {
            if (!VmaCliOptions.TryParseHostPort(oma, out host, out port))
            {
                throw new VmaCliException($"--oma '{oma}' is not HOST:PORT");
            }
        }
        else
        {
            host = configuration["Vma:Oma:Host"] ?? throw new VmaCliException("no OMA given: pass --oma HOST:PORT or set Vma:Oma:Host");
            port = int.TryParse(configuration["Vma:Oma:Port"], System.Globalization.CultureInfo.InvariantCulture, out var p) ? p : 443;
        }
        var store = new AgentCredentialStore(StateDirectory(stateDir, configuration));
        if (!store.IsEnrolled)
        {
            throw new VmaCliException($"this agent is not enrolled ({store.Directory} has no credentials); run 'migratekit-vma enroll' first");
        }
        var (certificate, ca) = store.Load();
        var client = new TunnelClient(new TunnelClientOptions
        {
            Host = host,
            Port = port,
            ClientCertificate = certificate,
            CaCertificate = ca,
            Connections = 1,
            ReconnectInitialDelay = TimeSpan.FromMilliseconds(200),
            ReconnectMaxDelay = TimeSpan.FromSeconds(5),
        }, new TunnelServiceRegistry(), loggers, TimeProvider.System);
        client.Start();
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(timeout);
            await client.WaitConnectedAsync(limit.Token);
            return client;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            var reason = client.LastError;
            await client.DisposeAsync();
            throw new IOException($"no tunnel to the OMA {host}:{port} within {timeout.TotalSeconds:0} s: {reason ?? "no answer"}");
        }
        catch
        {
            await client.DisposeAsync();
            throw;
        }
    }
}
