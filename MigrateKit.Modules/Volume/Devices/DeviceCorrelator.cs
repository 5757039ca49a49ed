using System.Globalization;
using MigrateKit.Modules.Volume.Ossea;

namespace MigrateKit.Modules.Volume.Devices;

/// <summary>Where an attached volume is: the kernel's name for it, and a name that survives reboots.</summary>
internal sealed record LocalDevice(string KernelPath, string? StablePath, long SizeBytes);

/// <summary>
/// Finds the Linux device of an attached OSSEA volume by what the kernel shows (DESIGN rule 6),
/// never by arithmetic on OSSEA device ids: OSSEA on KVM gives each disk the serial
/// uuid-without-dashes[..20]; udev names it <c>/dev/disk/by-id/virtio-&lt;serial&gt;</c> and the
/// kernel shows it in <c>/sys/block/vdX/serial</c>.
/// </summary>
internal sealed class DeviceCorrelator(VolumeOptions options, TimeProvider time)
{
    private static readonly string[] ByIdPrefixes = ["virtio-", "scsi-0QEMU_QEMU_HARDDISK_", "scsi-"];

    /// <summary>Polls until the volume's device appears with the expected size, or the timeout passes (null).</summary>
    public async Task<LocalDevice?> WaitForDeviceAsync(string volumeId, long expectedSize, CancellationToken ct)
    {
        var deadline = time.GetUtcNow() + options.DeviceTimeout;
        while (true)
        {
            if (Find(volumeId) is { } device && (expectedSize <= 0 || device.SizeBytes == expectedSize))
            {
                return device;
            }
            if (time.GetUtcNow() >= deadline)
            {
                return null;
            }
            await Task.Delay(options.DevicePollInterval, time, ct);
        }
    }

    /// <summary>One look: where the volume is now, or null.</summary>
    public LocalDevice? Find(string volumeId)
    {
        var serial = OsseaVolumeSerial.FromVolumeId(volumeId);
        foreach (var prefix in ByIdPrefixes)
        {
            var link = Path.Combine(options.DeviceByIdDirectory, prefix + serial);
            if (ResolveLink(link) is { } target && Describe(target, link) is { } device)
            {
                return device;
            }
        }
        // No udev link (e.g. udev not running): the kernel's own serial attribute.
        if (Directory.Exists(options.SysBlockDirectory))
        {
            foreach (var block in Directory.EnumerateDirectories(options.SysBlockDirectory))
            {
                var serialFile = Path.Combine(block, "serial");
                if (File.Exists(serialFile) && string.Equals(ReadTrimmed(serialFile), serial, StringComparison.OrdinalIgnoreCase))
                {
                    return Describe("/dev/" + Path.GetFileName(block), null);
                }
            }
        }
        return null;
    }

    private LocalDevice? Describe(string target, string? stablePath)
    {
        var name = Path.GetFileName(target);
        var sysBlock = Path.Combine(options.SysBlockDirectory, name);
        if (target.StartsWith("/dev/", StringComparison.Ordinal) && Directory.Exists(sysBlock))
        {
            var sectors = long.Parse(ReadTrimmed(Path.Combine(sysBlock, "size")), CultureInfo.InvariantCulture);
            return new LocalDevice(target, stablePath, sectors * 512);
        }
        // Labs without loop devices back a "device" with a plain file: same path handling, no /sys entry.
        var file = new FileInfo(target);
        return file.Exists && !target.StartsWith("/dev/", StringComparison.Ordinal) ? new LocalDevice(target, stablePath, file.Length) : null;
    }

    private static string? ResolveLink(string link)
    {
        var info = new FileInfo(link);
        if (info.LinkTarget is null)
        {
            return info.Exists ? link : null;
        }
        var target = info.ResolveLinkTarget(returnFinalTarget: true);
        return target is { Exists: true } ? target.FullName : null;
    }

    private static string ReadTrimmed(string path) => File.ReadAllText(path).Trim();
}
