using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Tests.Vma.VSphere;

/// <summary>ReconfigVM specs tests need but the agent does not (the agent never rewires NICs).</summary>
internal static class VSphereTestSpecs
{
    /// <summary>Edits a NIC in place (same key, MAC, slot), giving it the backing <paramref name="backing"/> writes.</summary>
    public static Task MoveNicAsync(VSphereClient client, MoRef vm, VmNic nic, Action<VimWriter> backing, CancellationToken ct)
        => client.ReconfigureAsync(vm, w =>
        {
            w.Start("deviceChange").Value("operation", "edit").Start("device", nic.DeviceType)
                .Value("key", nic.DeviceKey)
                .Start("deviceInfo").Value("label", nic.Label).Value("summary", "").End();
            backing(w);
            w.Value("controllerKey", nic.ControllerKey);
            if (nic.UnitNumber is int unit)
            {
                w.Value("unitNumber", unit);
            }
            w.Value("addressType", "assigned");
            if (nic.MacAddress is not null)
            {
                w.Value("macAddress", nic.MacAddress);
            }
            w.End().End();
        }, ct);
}
