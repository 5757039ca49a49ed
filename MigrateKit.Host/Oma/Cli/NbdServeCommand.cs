using System.CommandLine;
using System.Net;
using MigrateKit.Modules.Transport.Nbd;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Host.Oma.Cli;

/// <summary>
/// <c>nbd-serve --listen 127.0.0.1:PORT --export NAME=PATH [--export …] [--read-only]</c>:
/// the OMA's NBD server on its own, for benchmarks and for poking at exports by hand.
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

        var command = new Command("nbd-serve", "Serve files or block devices over NBD until Ctrl+C or SIGTERM");
        command.Options.Add(listen);
        command.Options.Add(exports);
        command.Options.Add(readOnly);
        command.Options.Add(verbose);
        command.Validators.Add(result =>
        {
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
            try
            {
                await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C or SIGTERM: dispose stops the listener and ends the connections.
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

    private static class NbdServerDefaults
    {
        public const int Port = 10809;
    }
}
