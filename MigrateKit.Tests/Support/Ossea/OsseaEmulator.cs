using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Tests.Support.Ossea;

/// <summary>Settings of an <see cref="OsseaEmulator"/>.</summary>
public sealed class OsseaEmulatorOptions
{
    /// <summary>Where volume files and the by-id links go; a fresh temp directory when null.</summary>
    public string? Root { get; init; }

    /// <summary>Use loop devices when the machine allows them (root, /dev/loop-control); otherwise plain files.</summary>
    public bool PreferLoopDevices { get; init; } = true;

    /// <summary>How long an async job takes by default (per command: <see cref="OsseaEmulatorFaults.DelayJobs"/>).</summary>
    public TimeSpan JobDelay { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>Time each per-VM queued job holds the VM, so overlapping jobs would collide without the queue.</summary>
    public TimeSpan VmOperationTime { get; init; } = TimeSpan.FromMilliseconds(5);

    /// <summary>hypervisor_capabilities.max_data_volumes_limit; ACS's fallback is 6 (KVM rows often say 32).</summary>
    public int MaxDataVolumes { get; init; } = 6;

    public long MaxVolumeSizeGb { get; init; } = 1024;

    /// <summary>The server's clock, for the <c>expires</c> check and dates in answers.</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;
}

/// <summary>
/// A CloudStack (OSSEA) API emulator for tests, served by Kestrel on 127.0.0.1. It checks request
/// signatures like ACS, keeps zones/offerings/networks/templates/VMs/volumes/snapshots/jobs, answers
/// with the shapes of real servers (../shared/fixtures/cloudstack), and gives volumes attached to the
/// OMA VM a real block device (loop device) found by serial under <see cref="ByIdDirectory"/>.
/// </summary>
public sealed class OsseaEmulator : IAsyncDisposable
{
    private const string UnauthorizedText = "unable to verify user credentials and/or request signature";

    private readonly WebApplication _app;
    private readonly OsseaEmulatorCloud _cloud;
    private readonly EmulatedBlockDevices _devices;
    private readonly OsseaEmulatorOptions _options;

    private OsseaEmulator(WebApplication app, OsseaEmulatorCloud cloud, EmulatedBlockDevices devices, OsseaEmulatorFaults faults,
        OsseaEmulatorOptions options, string apiKey, string secretKey)
    {
        _app = app;
        _cloud = cloud;
        _devices = devices;
        _options = options;
        Faults = faults;
        ApiKey = apiKey;
        SecretKey = secretKey;
    }

    /// <summary>The endpoint, e.g. <c>http://127.0.0.1:41234/client/api</c>.</summary>
    public Uri ApiUrl { get; private set; } = null!;

    public string ApiKey { get; }

    public string SecretKey { get; }

    public OsseaEmulatorFaults Faults { get; }

    public string ZoneId => _cloud.Zone.Id;

    public string ZoneName => _cloud.Zone.Name;

    /// <summary>A customized disk offering: createVolume needs <c>size</c>.</summary>
    public string CustomDiskOfferingId => _cloud.CustomDiskOffering.Id;

    /// <summary>A fixed 2 GB disk offering: createVolume refuses <c>size</c>.</summary>
    public string FixedDiskOfferingId => _cloud.FixedDiskOffering.Id;

    public string ServiceOfferingId => _cloud.ServiceOffering.Id;

    /// <summary>A customized service offering: deploy needs <c>details[0].cpuNumber</c>, <c>cpuSpeed</c> and <c>memory</c>.</summary>
    public string CustomServiceOfferingId => _cloud.CustomServiceOffering.Id;

    public string NetworkId => _cloud.Network.Id;

    /// <summary>A second guest network of the zone (10.2.2.0/24), e.g. for a failover VM's second NIC.</summary>
    public string SecondNetworkId => _cloud.SecondNetwork.Id;

    public string TemplateId => _cloud.Template.Id;

    /// <summary>The OMA appliance VM (Running); attaching to it creates block devices.</summary>
    public string OmaVmId => _cloud.OmaVm.Id;

    public EmulatedBlockDeviceMode BlockDeviceMode => _devices.Mode;

    /// <summary>Holds <c>virtio-&lt;serial&gt;</c> links like <c>/dev/disk/by-id</c> on a KVM guest.</summary>
    public string ByIdDirectory => _devices.ByIdDirectory;

    /// <summary>The most queued jobs ever seen running at once on one VM (1 when the per-VM queue holds).</summary>
    public int MaxConcurrentVmOperations => _cloud.MaxVmConcurrency;

    public static async Task<OsseaEmulator> StartAsync(OsseaEmulatorOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new OsseaEmulatorOptions();
        var root = options.Root ?? Path.Combine(Path.GetTempPath(), "ossea-emulator-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(root);
        var devices = new EmulatedBlockDevices(root, options.PreferLoopDevices);
        var faults = new OsseaEmulatorFaults();
        OsseaEmulatorCloud? cloud = null;
        try
        {
            cloud = new OsseaEmulatorCloud(options, faults, devices);
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var emulator = new OsseaEmulator(app, cloud, devices, faults, options, RandomKey(), RandomKey());
            app.MapMethods("/client/api", ["GET", "POST"], emulator.HandleAsync);
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
            var address = app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
            emulator.ApiUrl = new Uri(new Uri(address), "/client/api");
            return emulator;
        }
        catch
        {
            cloud?.Dispose();
            devices.Dispose();
            throw;
        }
    }

    /// <summary>The device (loop device, or the file in <see cref="EmulatedBlockDeviceMode.PlainFile"/> mode) of a volume attached to the OMA VM.</summary>
    public string? DevicePathOf(string volumeId) => _devices.DevicePath(volumeId);

    /// <summary>The by-id link the OMA would see for the volume: <c>&lt;ByIdDirectory&gt;/virtio-&lt;serial&gt;</c>.</summary>
    public string ByIdLinkOf(string volumeId) => _devices.LinkPath(OsseaEmulatorCloud.Serial(volumeId));

    /// <summary>The sparse file that holds the volume's data.</summary>
    public string VolumeFileOf(string volumeId) => _devices.VolumeFile(volumeId);

    public IReadOnlyCollection<string> ExposedDevices => _devices.ExposedDevices;

    public EmulatedVolumeView? Volume(string volumeId) => _cloud.VolumeView(volumeId);

    public IReadOnlyList<EmulatedVolumeView> Volumes() => _cloud.VolumeViews();

    /// <summary>The VM's state (<c>Expunged</c> once gone), or null for an unknown id.</summary>
    public string? VirtualMachineState(string vmId) => _cloud.VmState(vmId);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _cloud.Dispose();
        _devices.Dispose();
    }

    private async Task HandleAsync(HttpContext context)
    {
        var parameters = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, values) in context.Request.Query)
        {
            parameters.TryAdd(name, values[0] ?? string.Empty);
        }

        if (context.Request.HasFormContentType)
        {
            Faults.CountPost();
            var form = await context.Request.ReadFormAsync(context.RequestAborted).ConfigureAwait(false);
            foreach (var (name, values) in form)
            {
                parameters.TryAdd(name, values[0] ?? string.Empty);
            }
        }

        var command = parameters.GetValueOrDefault("command") ?? string.Empty;
        if (!Verify(parameters))
        {
            Faults.CountRejectedSignature();
            await WriteErrorAsync(context, command, 401, null, UnauthorizedText).ConfigureAwait(false);
            return;
        }

        if (!_cloud.Commands.Contains(command))
        {
            await WriteErrorAsync(context, command, 432, 9999, $"Unknown API command: {command}", envelope: "errorresponse").ConfigureAwait(false);
            return;
        }

        if (!string.Equals(parameters.GetValueOrDefault("response"), "json", StringComparison.OrdinalIgnoreCase))
        {
            // BaseCmd's default response type is XML.
            context.Response.ContentType = "text/xml; charset=UTF-8";
            await context.Response.WriteAsync(
                $"<?xml version=\"1.0\" encoding=\"UTF-8\"?><{command.ToLowerInvariant()}response cloud-stack-version=\"4.19.0\"/>",
                context.RequestAborted).ConfigureAwait(false);
            return;
        }

        if (Faults.OnCall(command) is { } injected)
        {
            var text = injected.Text ?? (injected.Code == 429
                ? "The given user has reached his/her account api limit, please retry after [5] ms."
                : $"Emulated failure of {command}");
            await WriteErrorAsync(context, command, injected.Code, injected.Code == 429 ? 4545 : 4250, text).ConfigureAwait(false);
            return;
        }

        JsonObject body;
        try
        {
            body = _cloud.Execute(new OsseaEmulatorParams(command, parameters));
        }
        catch (EmulatorApiError error)
        {
            await WriteErrorAsync(context, command, error.Code, error.CsErrorCode, error.Text).ConfigureAwait(false);
            return;
        }

        if (Faults.AnswerDelay(command) is { } answerDelay)
        {
            try
            {
                await Task.Delay(answerDelay, context.RequestAborted).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }

        if (Faults.TakeLostAnswer(command))
        {
            // The command took effect; the caller never learns it.
            context.Abort();
            return;
        }

        await WriteJsonAsync(context, 200, new JsonObject { [command.ToLowerInvariant() + "response"] = body }).ConfigureAwait(false);
    }

    /// <summary>ApiServer.verifyRequest: known apiKey, valid signature, and for signatureversion 3 an unexpired <c>expires</c>.</summary>
    private bool Verify(Dictionary<string, string> parameters)
    {
        string? Find(string name) => parameters.FirstOrDefault(p => p.Key.Equals(name, StringComparison.OrdinalIgnoreCase)).Value;

        var apiKey = Find("apiKey");
        var signature = Find("signature");
        if (apiKey is null || signature is null || !string.Equals(apiKey, ApiKey, StringComparison.Ordinal))
        {
            return false;
        }

        if (Find("signatureversion") == "3")
        {
            if (!TryParseExpires(Find("expires"), out var expires) || expires < _options.Time.GetUtcNow())
            {
                return false;
            }
        }

        return OsseaEmulatorSignature.Matches(parameters, SecretKey, signature);
    }

    private static bool TryParseExpires(string? text, out DateTimeOffset expires)
    {
        expires = default;
        if (text is null)
        {
            return false;
        }

        // DateUtil.parseTZDateString: 2030-01-01T00:00:00Z, …+0000, …+00:00
        var normalized = text.Length > 5 && text[^5] is '+' or '-' ? text[..^2] + ":" + text[^2..] : text;
        return DateTimeOffset.TryParseExact(normalized,
            ["yyyy-MM-dd'T'HH:mm:ss'Z'", "yyyy-MM-dd'T'HH:mm:sszzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFzzz"],
            CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out expires);
    }

    private static Task WriteErrorAsync(HttpContext context, string command, int code, int? csErrorCode, string text, string? envelope = null)
    {
        var error = new JsonObject { ["uuidList"] = new JsonArray(), ["errorcode"] = code };
        if (csErrorCode is not null)
        {
            error["cserrorcode"] = csErrorCode;
        }

        error["errortext"] = text;
        context.Response.Headers["X-Description"] = text;
        var key = envelope ?? (command.Length > 0 ? command.ToLowerInvariant() + "response" : "errorresponse");
        return WriteJsonAsync(context, code, new JsonObject { [key] = error });
    }

    private static Task WriteJsonAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json; charset=UTF-8";
        return context.Response.WriteAsync(body.ToJsonString(), context.RequestAborted);
    }

    private static string RandomKey() => Convert.ToBase64String(RandomNumberGenerator.GetBytes(48)).Replace('+', '-').Replace('/', '_').TrimEnd('=');
}
