namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// The disk serial OSSEA on KVM gives a volume (ACS <c>LibvirtComputingResource.diskUuidToSerial</c>):
/// the UUID without dashes, first 20 characters. The guest sees it in <c>/sys/block/vdX/serial</c> and
/// as <c>/dev/disk/by-id/virtio-&lt;serial&gt;</c>.
/// </summary>
internal static class OsseaVolumeSerial
{
    public const int VirtioSerialLength = 20;

    public static string FromVolumeId(string volumeId)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(volumeId);
        var compact = volumeId.Replace("-", string.Empty, StringComparison.Ordinal);
        return compact.Length <= VirtioSerialLength ? compact : compact[..VirtioSerialLength];
    }
}
