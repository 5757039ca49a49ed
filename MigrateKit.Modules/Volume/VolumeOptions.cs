using System.Globalization;
using System.Net;
using Microsoft.Extensions.Configuration;

namespace MigrateKit.Modules.Volume;

/// <summary>The "Volume" and "Nbd" configuration of the OMA.</summary>
internal sealed record VolumeOptions
{
    /// <summary>Where udev puts stable names (<c>virtio-&lt;serial&gt;</c>); tests point it at the emulator's.</summary>
    public string DeviceByIdDirectory { get; init; } = "/dev/disk/by-id";
    public string SysBlockDirectory { get; init; } = "/sys/block";
    /// <summary>How long an attached volume may take to show up in the kernel before the attach is undone.</summary>
    public TimeSpan DeviceTimeout { get; init; } = TimeSpan.FromSeconds(60);
    public TimeSpan DevicePollInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    public TimeSpan ReconcileInterval { get; init; } = TimeSpan.FromMinutes(10);
    public bool NbdEnabled { get; init; } = true;
    /// <summary>NBD listens on loopback only; agents reach it inside the tunnel (DESIGN rule 3).</summary>
    public IPEndPoint NbdListen { get; init; } = new(IPAddress.Loopback, 10809);

    public static VolumeOptions From(IConfiguration configuration)
    {
        var volume = configuration.GetSection("Volume");
        var nbd = configuration.GetSection("Nbd");
        var defaults = new VolumeOptions();
        var listenText = nbd["Listen"];
        IPEndPoint? listen = null;
        if (listenText is not null && !IPEndPoint.TryParse(listenText, out listen))
        {
            throw new MigrateKit.Modules.Core.Errors.ConfigurationErrorException($"Nbd:Listen '{listenText}' is not an address:port.");
        }
        return new VolumeOptions
        {
            DeviceByIdDirectory = volume["DeviceByIdDirectory"] ?? defaults.DeviceByIdDirectory,
            SysBlockDirectory = volume["SysBlockDirectory"] ?? defaults.SysBlockDirectory,
            DeviceTimeout = Duration(volume["DeviceTimeout"], defaults.DeviceTimeout),
            DevicePollInterval = Duration(volume["DevicePollInterval"], defaults.DevicePollInterval),
            ReconcileInterval = Duration(volume["ReconcileInterval"], defaults.ReconcileInterval),
            NbdEnabled = !string.Equals(nbd["Enabled"], "false", StringComparison.OrdinalIgnoreCase),
            NbdListen = listen ?? defaults.NbdListen,
        };
    }

    private static TimeSpan Duration(string? text, TimeSpan fallback) =>
        text is null ? fallback
        : TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) && value > TimeSpan.Zero ? value
        : throw new MigrateKit.Modules.Core.Errors.ConfigurationErrorException($"'{text}' is not a positive duration (hh:mm:ss).");
}
