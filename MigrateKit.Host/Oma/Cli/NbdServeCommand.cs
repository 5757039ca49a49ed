using System.CommandLine;
using System.Net;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Transport.Tunnel;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Host.Oma.Cli;

/// <summary>
/// <c>nbd-serve --listen 127.0.0.1:PORT --export NAME=PATH [--export …] [--read-only]</c>:
/// the OMA's NBD server on its own, for benchmarks and for poking at exports by hand. With
/// <c>--tunnel-listen ADDR:PORT --tunnel-pki DIR --tunnel-agent SHA256</c> it also offers the exports
/// as the tunnel service <c>nbd</c>, as the OMA does, to the agents with those certificate
/// fingerprints (no database, no enrollment: the tunnel benchmark's OMA end).
/// </summary>
internal static class NbdServeCommand
{
    public static Command Create()
    {
        var listen = new Option<string>("--listen")
        {
            Description = "Address and port to listen on (loopback by default)",
            DefaultValueFactory = _ => $"127.0.0.1:{NbdServerDefaults.Port}",
        };
        var exports = new Option<string[]>("--export")
        {
            Description = "An export as NAME=PATH (file or block device); repeat for more",
            Required = true,
            AllowMultipleArgumentsPerToken = false,
        };
        var readOnly = new Option<bool>("--read-only") { Description = "Refuse writes (EPERM) on every export" };
        var verbose = new Option<bool>("--verbose") { Description = "Log every connection" };
        var tunnelListen = new Option<string?>("--tunnel-listen") { Description = "Also accept agent tunnels (service nbd) on ADDRESS:PORT" };
        var tunnelPki = new Option<string?>("--tunnel-pki") { Description = "OMA CA directory for the tunnel (created on first use)" };
        var tunnelAgents = new Option<string[]>("--tunnel-agent")
        {
            Description = "SHA-256 fingerprint of an agent certificate (issued by that CA) to accept; repeat for more",
            AllowMultipleArgumentsPerToken = false,
        };

        var command = new Command("nbd-serve", "Serve files or block devices over NBD until Ctrl+C or SIGTERM");
        command.Options.Add(listen);
        command.Options.Add(exports);
        command.Options.Add(readOnly);
        command.Options.Add(verbose);
        command.Options.Add(tunnelListen);
        command.Options.Add(tunnelPki);
        command.Options.Add(tunnelAgents);
        command.Validators.Add(result =>
        {
            if (result.GetValue(tunnelListen) is { } tunnel)
            {
                if (!IPEndPoint.TryParse(tunnel, out _))
                {
                    result.AddError($"--tunnel-listen '{tunnel}' is not ADDRESS:PORT");
                }
                if (string.IsNullOrEmpty(result.GetValue(tunnelPki)) || (result.GetValue(tunnelAgents) ?? []).Length == 0)
                {
                    result.AddError("--tunnel-listen needs --tunnel-pki and at least one --tunnel-agent");
                }
            }
            foreach (var agent in result.GetValue(tunnelAgents) ?? [])
            {
                if (!CertificateFingerprint.TryParse(agent, out _))
                {
                    result.AddError($"--tunnel-agent '{agent}' is not a SHA-256 fingerprint");
                }
            }
            if (result.GetValue(listen) is { } text && !IPEndPoint.TryParse(text, out _))
            {
                result.AddError($"--listen '{text}' is not ADDRESS:PORT");
            }
            foreach (var spec in result.GetValue(exports) ?? [])
            {
                if (!TryParseExport(spec, out _, out _))
                {
                    result.AddError($"--export '{spec}' is not NAME=PATH");
                }
            }
        });

        command.SetAction(async (parseResult, ct) =>
        {
            var endPoint = IPEndPoint.Parse(parseResult.GetValue(listen)!);
            var table = new NbdExportTable();
            foreach (var spec in parseResult.GetValue(exports) ?? [])
            {
                TryParseExport(spec, out var name, out var path);
                if (!File.Exists(path))
                {
                    await Console.Error.WriteLineAsync($"nbd-serve: {path}: no such file or device").ConfigureAwait(false);
                    return 2;
                }
                table.Set(new NbdExportDefinition(name, Path.GetFullPath(path), parseResult.GetValue(readOnly)));
            }

            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(o => o.SingleLine = true)
                .SetMinimumLevel(parseResult.GetValue(verbose) ? LogLevel.Debug : LogLevel.Information));
            await using var server = new NbdServer(table, new NbdServerOptions { EndPoint = endPoint },
                loggerFactory.CreateLogger<NbdServer>());
            try
            {
                server.Start();
            }
            catch (System.Net.Sockets.SocketException ex)
            {
                await Console.Error.WriteLineAsync($"nbd-serve: cannot listen on {endPoint}: {ex.Message}").ConfigureAwait(false);
                return 1;
            }
            TunnelServer? tunnel = null;
            OmaCertificateAuthority? ca = null;
            try
            {
                if (parseResult.GetValue(tunnelListen) is { } tunnelText)
                {
                    var tunnelEndPoint = IPEndPoint.Parse(tunnelText);
                    ca = OmaCertificateAuthority.LoadOrCreate(new OmaPkiOptions { Directory = parseResult.GetValue(tunnelPki)! }, TimeProvider.System);
                    var allowed = (parseResult.GetValue(tunnelAgents) ?? []).Select(CertificateFingerprint.Parse).ToHashSet();
                    var services = new TunnelServiceRegistry().Register("nbd", server.ServeAsync);
                    tunnel = new TunnelServer(new TunnelServerOptions { ListenAddress = tunnelEndPoint.Address, Port = tunnelEndPoint.Port },
                        ca, services, new FingerprintAuthorizer(allowed), null, loggerFactory, TimeProvider.System);
                    try
                    {
                        tunnel.Start();
                    }
                    catch (System.Net.Sockets.SocketException ex)
                    {
                        await Console.Error.WriteLineAsync($"nbd-serve: cannot listen on {tunnelEndPoint}: {ex.Message}").ConfigureAwait(false);
                        return 1;
                    }
                }
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: dispose stops the listeners and ends the connections.
            }
            finally
            {
                if (tunnel is not null)
                {
                    await tunnel.DisposeAsync().ConfigureAwait(false);
                }
                ca?.Dispose();
            }
            return 0;
        });
        return command;
    }

    private static bool TryParseExport(string spec, out string name, out string path)
    {
        var at = spec.IndexOf('=', StringComparison.Ordinal);
        name = at > 0 ? spec[..at] : "";
        path = at > 0 ? spec[(at + 1)..] : "";
        return at > 0 && path.Length > 0;
    }

    /// <summary>Accepts the agents whose certificate fingerprints were given on the command line.</summary>
    private sealed class FingerprintAuthorizer(HashSet<CertificateFingerprint> allowed) : IAgentAuthorizer
    {
        public ValueTask<AgentAuthorization> AuthorizeAsync(AgentCertificateInfo certificate, CancellationToken cancellationToken) =>
            ValueTask.FromResult(allowed.Contains(certificate.Fingerprint)
                ? AgentAuthorization.Allow(certificate.CommonName)
                : AgentAuthorization.Deny("not an agent given with --tunnel-agent"));
    }

    private static class NbdServerDefaults
    {
        public const int Port = 10809;
    }
}
