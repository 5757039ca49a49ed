using System.Runtime.ExceptionServices;
using System.Text.Json;
using FluentValidation;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Views;

internal static class VirtualMachineViews
{
    /// <summary>Whether the VM is gone for MigrateKit's purposes (expunge is under way or done).</summary>
    public static bool IsGone(OsseaVirtualMachine vm) => OsseaVmStates.IsGone(vm.State);

    public static VirtualMachineView ToView(this OsseaVirtualMachine vm) => new(
        vm.Id, vm.Name ?? vm.Id, vm.DisplayName, vm.State ?? OsseaVmStates.Unknown, vm.ServiceOfferingId,
        vm.Nic.Select(n => new VirtualMachineNicView(n.NetworkId ?? "", n.NetworkName, n.MacAddress, n.IpAddress, n.IsDefault)).ToList());

    /// <summary>The VM, or 404 when OSSEA does not know it (or it is gone).</summary>
    public static async Task<OsseaVirtualMachine> RequireAsync(IOsseaClient client, string vmId, CancellationToken ct)
    {
        var vm = await client.GetVirtualMachineAsync(vmId, ct);
        return vm is null || IsGone(vm) ? throw new NotFoundException($"OSSEA has no VM {vmId}.") : vm;
    }
}
