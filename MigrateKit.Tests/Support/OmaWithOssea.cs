using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support.Ossea;

namespace MigrateKit.Tests.Support;

/// <summary>
/// The real OMA service wired to an OSSEA emulator: its OMA appliance VM gets loop devices with
/// virtio-style by-id links when volumes attach, and one OSSEA config points at it.
/// </summary>
internal sealed class OmaWithOssea : IAsyncDisposable
{
    private OmaWithOssea(OsseaEmulator emulator, OmaTestHost host, int configId)
    {
        Emulator = emulator;
        Host = host;
        ConfigId = configId;
    }

    public OsseaEmulator Emulator { get; }
    public OmaTestHost Host { get; }
    public int ConfigId { get; }

    /// <param name="configureServices">Test services for the OMA, given the emulator (e.g. a notification probe).</param>
    public static async Task<OmaWithOssea> StartAsync(string connectionString, IDictionary<string, string?>? settings = null,
        Action<OsseaEmulator, IServiceCollection>? configureServices = null)
    {
        var emulator = await OsseaEmulator.StartAsync();
        try
        {
            var values = SettingsFor(emulator);
            foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
            {
                values[key] = value;
            }
            var host = await OmaTestHost.StartAsync(connectionString, values,
                configureServices is null ? null : services => configureServices(emulator, services));
            var config = await Send(host, new CreateOsseaConfigCommand
            {
                Name = "emulated",
                ApiUrl = emulator.ApiUrl.ToString(),
                ApiKey = emulator.ApiKey,
                SecretKey = emulator.SecretKey,
                Zone = emulator.ZoneId,
                DiskOfferingId = emulator.CustomDiskOfferingId,
                ServiceOfferingId = emulator.ServiceOfferingId,
                TemplateId = emulator.TemplateId,
                NetworkId = emulator.NetworkId,
                OmaVmId = emulator.OmaVmId,
            });
            return new OmaWithOssea(emulator, host, config.Id);
        }
        catch
        {
            await emulator.DisposeAsync();
            throw;
        }
    }

    public Task<T> SendAsync<T>(IRequest<T> request, CancellationToken ct = default) => Send(Host, request, ct);

    /// <summary>
    /// OMA settings for working against <paramref name="emulator"/>: its by-id directory for device
    /// correlation, no reconciler, and OSSEA job polling fast enough for tests.
    /// </summary>
    public static Dictionary<string, string?> SettingsFor(OsseaEmulator emulator) => new()
    {
        ["Volume:DeviceByIdDirectory"] = emulator.ByIdDirectory,
        ["Volume:DeviceTimeout"] = "00:00:05",
        ["Volume:DevicePollInterval"] = "00:00:00.050",
        ["Volume:Reconciler"] = "false",
        ["Ossea:JobPollInitial"] = "00:00:00.010",
        ["Ossea:JobPollIncrement"] = "00:00:00.010",
        ["Ossea:JobPollMax"] = "00:00:00.050",
        ["Ossea:RetryBaseDelay"] = "00:00:00.010",
        ["Ossea:RetryMaxDelay"] = "00:00:00.050",
    };

    private static async Task<T> Send<T>(OmaTestHost host, IRequest<T> request, CancellationToken ct = default)
    {
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IMediator>().Send(request, ct);
    }

    public async ValueTask DisposeAsync()
    {
        await Host.DisposeAsync();
        await Emulator.DisposeAsync();
    }
}
