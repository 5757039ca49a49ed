using System.CommandLine;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;
using Spectre.Console;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>
/// <c>copy SOURCE --export NAME [--oma HOST:PORT]</c>: one-shot copy of an NBD URI, image file or
/// block device into an OMA export through the tunnel, with the streaming engine of a sync (block
/// status, WRITE_ZEROES for zero ranges, pipelined chunks, flush at the end) and a progress bar.
/// A local image is read directly (positional reads, SEEK_DATA/SEEK_HOLE), not through nbdkit.
/// </summary>
internal static class CopyCommand
{
    public static Command Create()
    {
        var source = new Argument<string>("source") { Description = "nbd://host:port/export, nbd+unix:///export?socket=PATH, or a raw image file or block device (read directly, holes sent as zeroes)." };
        var export = new Option<string>("--export") { Description = "The OMA NBD export to write into.", Required = true };
        var limit = new Option<long?>("--limit") { Description = "Bandwidth limit in bytes per second." };
        var oma = AgentTunnelOptions.Oma();
        var stateDir = AgentTunnelOptions.StateDir();
        var command = new Command("copy", "Copy a raw disk image, block device or NBD export into an OMA export through the tunnel (assumes a zeroed target).")
        {
            source, export, limit, oma, stateDir,
        };
        command.SetAction((parse, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = VmaCliOptions.BuildConfiguration(parse);
            var options = new VmaOptions();
            configuration.GetSection(VmaOptions.Section).Bind(options);
            options.Streaming.Validate();
            if (parse.GetValue(limit) is < 1)
            {
                throw new VmaCliException("--limit must be a positive number of bytes per second");
            }
            using var loggers = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning));
            await using var disk = await MappedDiskSourceFactory.OpenSourceAsync(parse.GetValue(source)!, ct);
            await using var tunnel = await AgentTunnelOptions.ConnectAsync(parse.GetValue(oma), parse.GetValue(stateDir), configuration, loggers,
                TimeSpan.FromSeconds(30), ct);
            var stream = await tunnel.OpenStreamAsync("nbd", ct);
            await using var target = await NbdClient.ConnectAsync(stream, parse.GetValue(export)!, new NbdClientOptions { MaxInFlight = 16 }, ct);
            var extents = await DiskCopier.PlanAsync(disk.Reader, [new DiskExtent(0, disk.Size)], 0, disk.Size, ct);
            var progress = new DiskProgress(new VmaSyncDisk(0, parse.GetValue(export), "*", 0), TimeProvider.System);
            var bucket = parse.GetValue(limit) is long l ? new TokenBucket(l, TimeProvider.System) : null;
            var copier = new DiskCopier(options.Streaming, TimeProvider.System);
            await AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .StartAsync(async ctx =>
                {
                    var bar = ctx.AddTask(Markup.Escape($"{disk.Description} → {parse.GetValue(export)}"), maxValue: Math.Max(1, extents.Sum(e => e.Length)));
                    var copy = copier.CopyAsync(disk.Reader, target, extents, disk.Size, progress, bucket, ct);
                    while (!copy.IsCompleted)
                    {
                        await Task.WhenAny(copy, Task.Delay(250, CancellationToken.None));
                        bar.Value = progress.View().BytesDone;
                    }
                    await copy;
                    bar.Value = bar.MaxValue;
                });
            await target.DisconnectAsync(ct);
            var view = progress.View();
            Console.WriteLine($"copied {view.BytesDone} bytes ({view.DataBytesSent} data, {view.ZeroBytesSent} as zeroes) in {view.ExtentsTotal} extents");
            return 0;
        }));
        return command;
    }
}
