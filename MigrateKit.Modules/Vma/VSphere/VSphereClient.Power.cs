namespace MigrateKit.Modules.Vma.VSphere;

internal sealed partial class VSphereClient
{
    public async Task<string> GetPowerStateAsync(MoRef vm, CancellationToken ct)
    {
        var props = await RetrieveOneAsync(vm, ["runtime.powerState"], ct).ConfigureAwait(false);
        return props["runtime.powerState"]?.Value ?? "unknown";
    }

    /// <summary>PowerOffVM_Task (hard power off). Already off is not an error.</summary>
    public async Task PowerOffAsync(MoRef vm, CancellationToken ct)
    {
        if (await GetPowerStateAsync(vm, ct).ConfigureAwait(false) == "poweredOff")
        {
            return;
        }
        try
        {
            await RunTaskAsync("PowerOffVM_Task", vm, null, null, ct).ConfigureAwait(false);
        }
        catch (VSphereFaultException e) when (e.FaultType == "InvalidPowerState")
        {
            // Raced with a guest shutdown that finished first; anything else is a real failure.
            if (await GetPowerStateAsync(vm, ct).ConfigureAwait(false) != "poweredOff")
            {
                throw;
            }
        }
    }

    /// <summary>
    /// Cutover power-down: ShutdownGuest (needs VMware Tools), wait up to <paramref name="grace"/>
    /// for poweredOff, else (or if the guest cannot shut down) PowerOffVM_Task.
    /// </summary>
    public async Task<ShutdownOutcome> ShutdownGuestAsync(MoRef vm, TimeSpan grace, CancellationToken ct)
    {
        if (await GetPowerStateAsync(vm, ct).ConfigureAwait(false) == "poweredOff")
        {
            return ShutdownOutcome.AlreadyOff;
        }
        try
        {
            await InvokeAsync("ShutdownGuest", vm, null, ct).ConfigureAwait(false);
        }
        catch (VSphereFaultException e) when (e.FaultType is "ToolsUnavailable" or "InvalidState" or "TaskInProgress" or "NotSupported")
        {
            VSphereLog.GuestShutdownFallback(_logger, vm.ToString(), e.FaultType);
            await PowerOffAsync(vm, ct).ConfigureAwait(false);
            return ShutdownOutcome.ForcedPowerOff;
        }
        var started = _time.GetTimestamp();
        while (_time.GetElapsedTime(started) < grace)
        {
            if (await GetPowerStateAsync(vm, ct).ConfigureAwait(false) == "poweredOff")
            {
                return ShutdownOutcome.GuestShutdown;
            }
            await Task.Delay(TimeSpan.FromSeconds(1), _time, ct).ConfigureAwait(false);
        }
        if (await GetPowerStateAsync(vm, ct).ConfigureAwait(false) == "poweredOff")
        {
            return ShutdownOutcome.GuestShutdown;
        }
        VSphereLog.GuestShutdownFallback(_logger, vm.ToString(), $"still running after {grace}");
        await PowerOffAsync(vm, ct).ConfigureAwait(false);
        return ShutdownOutcome.ForcedPowerOff;
    }
}
