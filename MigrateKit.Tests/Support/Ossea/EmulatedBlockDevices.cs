using System.Collections.Concurrent;
using System.Diagnostics;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>How the emulator presents a volume attached to the OMA VM.</summary>
public enum EmulatedBlockDeviceMode
{
    /// <summary>A real loop device (<c>losetup --find --show</c>) over the volume's sparse file.</summary>
    LoopDevice,

    /// <summary>Loop devices are unavailable here: the "device" is the sparse file itself.</summary>
    PlainFile,
}

/// <summary>
/// Volume data as sparse files under <c>&lt;root&gt;/volumes</c>, and for volumes attached to the OMA VM
/// a block device plus a <c>&lt;root&gt;/disk/by-id/virtio-&lt;serial&gt;</c> link to it, like udev's
/// <c>/dev/disk/by-id</c> on a KVM guest. Data lives in the file, so it survives detach/attach.
/// </summary>
internal sealed class EmulatedBlockDevices : IDisposable
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(20);

    private readonly ConcurrentDictionary<string, Exposure> _exposed = new(StringComparer.OrdinalIgnoreCase);
    private readonly string _root;

    public EmulatedBlockDevices(string root, bool preferLoopDevices)
    {
        _root = root;
        Directory.CreateDirectory(VolumesDirectory);
        Directory.CreateDirectory(SnapshotsDirectory);
        Directory.CreateDirectory(ByIdDirectory);
        Mode = preferLoopDevices && LoopDevicesWork(root) ? EmulatedBlockDeviceMode.LoopDevice : EmulatedBlockDeviceMode.PlainFile;
    }

    public EmulatedBlockDeviceMode Mode { get; }

    public string ByIdDirectory => Path.Combine(_root, "disk", "by-id");

    private string VolumesDirectory => Path.Combine(_root, "volumes");

    private string SnapshotsDirectory => Path.Combine(_root, "snapshots");

    public string VolumeFile(string volumeId) => Path.Combine(VolumesDirectory, volumeId + ".img");

    public string SnapshotFile(string snapshotId) => Path.Combine(SnapshotsDirectory, snapshotId + ".img");

    public string LinkPath(string serial) => Path.Combine(ByIdDirectory, "virtio-" + serial);

    public void CreateSparse(string path, long sizeBytes)
    {
        using var file = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
        file.SetLength(sizeBytes);
    }

    public void Resize(string volumeId, long sizeBytes)
    {
        using (var file = new FileStream(VolumeFile(volumeId), FileMode.Open, FileAccess.Write))
        {
            file.SetLength(sizeBytes);
        }

        if (_exposed.TryGetValue(volumeId, out var exposure) && Mode == EmulatedBlockDeviceMode.LoopDevice)
        {
            Run("losetup", "--set-capacity", exposure.DevicePath);
        }
    }

    /// <summary>Sparse copy (cp uses SEEK_DATA), so a 1 GB volume with little data copies in milliseconds.</summary>
    public static void CopySparse(string source, string destination)
        => Run("cp", "--sparse=always", "--", source, destination);

    /// <summary>Presents the volume as a block device; returns the device path (loop device or file).</summary>
    public string Expose(string volumeId, string serial)
    {
        var file = VolumeFile(volumeId);
        var device = Mode == EmulatedBlockDeviceMode.LoopDevice
            ? Run("losetup", "--find", "--show", "--", file).Trim()
            : file;
        var link = LinkPath(serial);
        File.Delete(link);
        File.CreateSymbolicLink(link, device);
        _exposed[volumeId] = new Exposure(device, link);
        return device;
    }

    /// <summary>Removes the link and the loop device; the data stays in the file.</summary>
    public void Withdraw(string volumeId)
    {
        if (!_exposed.TryRemove(volumeId, out var exposure))
        {
            return;
        }

        File.Delete(exposure.LinkPath);
        if (Mode == EmulatedBlockDeviceMode.LoopDevice)
        {
            Run("losetup", "--detach", exposure.DevicePath);
        }
    }

    public string? DevicePath(string volumeId) => _exposed.TryGetValue(volumeId, out var e) ? e.DevicePath : null;

    public IReadOnlyCollection<string> ExposedDevices => _exposed.Values.Select(e => e.DevicePath).ToList();

    public void Dispose()
    {
        foreach (var volumeId in _exposed.Keys.ToList())
        {
            try
            {
                Withdraw(volumeId);
            }
            catch (InvalidOperationException)
            {
                // Keep cleaning up the others; a leftover loop device is visible in losetup -a.
            }
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static bool LoopDevicesWork(string root)
    {
        var probe = Path.Combine(root, "loop-probe.img");
        try
        {
            using (var file = new FileStream(probe, FileMode.Create, FileAccess.Write))
            {
                file.SetLength(1024 * 1024);
            }

            var device = Run("losetup", "--find", "--show", "--", probe).Trim();
            Run("losetup", "--detach", device);
            return device.StartsWith("/dev/loop", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.ComponentModel.Win32Exception or IOException or UnauthorizedAccessException)
        {
            return false;
        }
        finally
        {
            File.Delete(probe);
        }
    }

    private static string Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"{tool} did not start.");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(ToolTimeout))
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"{tool} did not finish within {ToolTimeout.TotalSeconds} s.");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{tool} {string.Join(' ', arguments)} failed ({process.ExitCode}): {stderr.Result.Trim()}");
        }

        return stdout.Result;
    }

    private sealed record Exposure(string DevicePath, string LinkPath);
}
