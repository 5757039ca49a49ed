using System.Runtime.ExceptionServices;
using System.Text.Json;
using FluentValidation;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Data;
using MigrateKit.Modules.Volume.Features.Volumes;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Operations;

/// <summary>
/// Start, stop and destroy whose answer was lost (<see cref="OsseaApiException.OutcomeUnknown"/>): the
/// client does not resend them blindly, so this looks at the VM once it has settled, and resends only
/// when OSSEA shows the change did not happen. A refused resend (the lost one ran meanwhile) is
/// checked the same way before it is passed on.
/// </summary>
internal sealed class VirtualMachineStateChanges(Microsoft.Extensions.Options.IOptions<OsseaClientOptions> options, TimeProvider time)
{
    /// <param name="done">Whether the VM (null: gone) shows the change happened.</param>
    public async Task<OsseaVirtualMachine?> RunAsync(
        IOsseaClient client, string vmId, Func<CancellationToken, Task<OsseaVirtualMachine>> change, Func<OsseaVirtualMachine?, bool> done,
        CancellationToken ct)
    {
        try
        {
            return await change(ct);
        }
        catch (OsseaApiException ex) when (ex.OutcomeUnknown)
        {
            var now = await SettledAsync(client, vmId, ct);
            if (done(now))
            {
                return now;
            }
        }
        try
        {
            return await change(ct);
        }
        catch (OsseaApiException)
        {
            var again = await SettledAsync(client, vmId, ct);
            if (done(again))
            {
                return again;
            }
            throw;
        }
    }

    /// <summary>The VM once it is no longer in a transitional state, polled like a job (same intervals and deadline).</summary>
    private async Task<OsseaVirtualMachine?> SettledAsync(IOsseaClient client, string vmId, CancellationToken ct)
    {
        var o = options.Value;
        var started = time.GetTimestamp();
        var delay = o.JobPollInitial;
        while (true)
        {
            var vm = await client.GetVirtualMachineAsync(vmId, ct);
            if (vm is null || !OsseaVmStates.IsTransitional(vm.State) || time.GetElapsedTime(started) >= o.JobTimeout)
            {
                return vm;
            }
            await Task.Delay(delay, time, ct);
            delay = delay + o.JobPollIncrement < o.JobPollMax ? delay + o.JobPollIncrement : o.JobPollMax;
        }
    }
}
