using System.CommandLine;
using MigrateKit.Modules.Vma.VSphere;
using Spectre.Console;

namespace MigrateKit.Host.Vma.Cli;

/// <summary><c>vms</c>: what vCenter shows (section VSphere of the configuration).</summary>
internal static class VmsCommand
{
    public static Command Create()
    {
        var command = new Command("vms", "List the VMs vCenter shows, with disks and CBT state.");
        command.SetAction((parse, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = VmaCliOptions.BuildConfiguration(parse);
            var options = new VSphereOptions();
            configuration.GetSection("VSphere").Bind(options);
            await using var client = new VSphereClient(options, TimeProvider.System);
            var vms = await client.DiscoverVmsAsync(ct);
            var table = new Table().AddColumns("moref", "path", "power", "CBT", "disks", "capacity");
            foreach (var vm in vms)
            {
                table.AddRow(Markup.Escape(vm.Ref.Value), Markup.Escape(vm.InventoryPath), vm.PowerState, vm.ChangeTrackingEnabled ? "on" : "off",
                    vm.Disks.Count.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    $"{vm.Disks.Sum(d => d.CapacityBytes) / (1024.0 * 1024 * 1024):0.#} GiB");
            }
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }
}
