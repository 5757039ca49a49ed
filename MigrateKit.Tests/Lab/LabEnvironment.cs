using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text.Json;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.Ossea;

namespace MigrateKit.Lab;

/// <summary>Where the lab's binaries are and where it keeps its state (everything under one run directory).</summary>
internal sealed record LabSettings(string RunDirectory, string OmaBinary, string VmaBinary, string VcSimBinary, string DatabaseConnectionString)
{
    public string PidFile => Path.Combine(RunDirectory, "pids");
    public string LogDirectory => Path.Combine(RunDirectory, "logs");
    public string ImageDirectory => Path.Combine(RunDirectory, "images");
    public string TokenFile => Path.Combine(RunDirectory, "admin-token");
}

/// <summary>
/// Everything the lab starts, stopped in reverse order on dispose: the OSSEA emulator (in this
/// process), the vCenter simulator, the OMA service and the VMA agent (real processes).
/// </summary>
internal sealed class LabEnvironment(LabSettings settings) : IAsyncDisposable
{
    public const string AgentName = "lab-vma";
    private static readonly TimeSpan CommandTimeout = TimeSpan.FromMinutes(2);
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private readonly List<IAsyncDisposable> _started = [];

    public LabSettings Settings => settings;
    public OsseaEmulator Ossea { get; private set; } = null!;
    public LabVCenter VCenter { get; private set; } = null!;
    public LabProcess Oma { get; private set; } = null!;
    public LabProcess Vma { get; private set; } = null!;
    public string OmaConfigFile => Path.Combine(settings.RunDirectory, "oma.json");
    public string VmaConfigFile => Path.Combine(settings.RunDirectory, "vma.json");
    public Uri ApiAddress { get; private set; } = null!;
    public Uri VmaApiAddress { get; private set; } = null!;
    public int TunnelPort { get; private set; }
    public LabApi Api { get; private set; } = null!;

    public async Task StartOsseaAsync(CancellationToken ct)
    {
        // Volume files and by-id links under the run directory, so an operator can look at them (--keep).
        Ossea = await OsseaEmulator.StartAsync(new OsseaEmulatorOptions
        {
            Root = Path.Combine(settings.RunDirectory, "ossea"),
            MaxDataVolumes = 16,
        }, ct);
        _started.Add(Ossea);
        if (Ossea.BlockDeviceMode != EmulatedBlockDeviceMode.LoopDevice)
        {
            throw new LabException("the OSSEA emulator could not create loop devices (losetup); the lab needs root and /dev/loop-control");
        }
    }

    public async Task StartVCenterAsync(CancellationToken ct)
    {
        VCenter = await LabVCenter.StartAsync(settings.VcSimBinary, Path.Combine(settings.RunDirectory, "vcsim"), settings.PidFile, ct);
        _started.Add(VCenter);
    }

    /// <summary>The OMA with a config file of its own (0600: it holds the database password), then an admin token.</summary>
    public async Task StartOmaAsync(CancellationToken ct)
    {
        var apiPort = FreePort.Get();
        TunnelPort = FreePort.Get();
        var config = new
        {
            Database = new { ConnectionString = settings.DatabaseConnectionString },
            Oma = new { DataDirectory = Path.Combine(settings.RunDirectory, "oma") },
            Api = new { Listen = $"127.0.0.1:{apiPort}" },
            Tunnel = new { Listen = $"127.0.0.1:{TunnelPort}" },
            Nbd = new { Listen = $"127.0.0.1:{FreePort.Get()}" },
            Volume = new { DeviceByIdDirectory = Ossea.ByIdDirectory, DeviceTimeout = "00:00:15", DevicePollInterval = "00:00:00.050" },
            Ossea = new { JobPollInitial = "00:00:00.050", JobPollIncrement = "00:00:00.050", JobPollMax = "00:00:00.200" },
            Replication = new { ScanInterval = "00:00:00.250", PollInterval = "00:00:00.250", AgentRetryDelay = "00:00:00.500" },
            Failover = new { ScanInterval = "00:00:00.250" },
            Logging = new
            {
                // The lab polls the API several times a second: request lines would drown the log.
                LogLevel = new Dictionary<string, string>
                {
                    ["Default"] = "Information", ["Microsoft.AspNetCore"] = "Warning", ["MigrateKit.Host.Oma.Hosting.RequestLoggingMiddleware"] = "Warning",
                },
            },
        };
        await WritePrivateAsync(OmaConfigFile, JsonSerializer.Serialize(config, Indented), ct);
        Oma = LabProcess.Start("OMA", settings.OmaBinary, ["run", "--config", OmaConfigFile],
            Path.Combine(settings.LogDirectory, "oma.log"), settings.PidFile);
        _started.Add(Oma);
        ApiAddress = new Uri($"http://127.0.0.1:{apiPort}/");
        await WaitForHealthAsync(Oma, new Uri(ApiAddress, "api/v1/health"), TimeSpan.FromSeconds(90), ct);

        var token = (await RunOmaAsync(["create-token", "lab", "--config", OmaConfigFile], ct)).Trim();
        await WritePrivateAsync(settings.TokenFile, token + "\n", ct);
        Api = new LabApi(ApiAddress, token);
    }

    /// <summary>Enrolls the agent through the tunnel (one-time token, pinned fingerprint), then runs it.</summary>
    public async Task StartVmaAsync(IReadOnlyList<(string Vm, int DeviceKey, string Image)> mappings, CancellationToken ct)
    {
        var state = Path.Combine(settings.RunDirectory, "vma", "state");
        Directory.CreateDirectory(state);
        var apiPort = FreePort.Get();
        VmaApiAddress = new Uri($"http://127.0.0.1:{apiPort}/");
        var config = new
        {
            VSphere = new
            {
                Address = VCenter.Url.ToString(), User = LabVCenter.User, PasswordFile = VCenter.PasswordFile, VCenter.Thumbprint,
                RequestTimeout = "00:00:30", TaskTimeout = "00:00:30",
            },
            Vma = new
            {
                ApiListen = $"127.0.0.1:{apiPort}",
                Oma = new { Host = "127.0.0.1", Port = TunnelPort, StateDirectory = state, Connections = 2, ReconnectInitialDelay = "00:00:00.200", ReconnectMaxDelay = "00:00:02" },
                DiskSource = "mapped",
                DiskMappings = mappings.Select(m => new { m.Vm, m.DeviceKey, Source = m.Image }).ToArray(),
            },
            Logging = new { LogLevel = new Dictionary<string, string> { ["Default"] = "Information", ["Microsoft.AspNetCore"] = "Warning" } },
        };
        await WritePrivateAsync(VmaConfigFile, JsonSerializer.Serialize(config, Indented), ct);

        var tokenFile = Path.Combine(settings.RunDirectory, "vma", "enroll-token");
        await WritePrivateAsync(tokenFile, (await RunOmaAsync(["enroll-token", "--name", AgentName, "--config", OmaConfigFile], ct)).Trim() + "\n", ct);
        var fingerprint = (await RunOmaAsync(["fingerprint", "--config", OmaConfigFile], ct)).Trim();
        try
        {
            await RunAsync(settings.VmaBinary, ["enroll", "--config", VmaConfigFile, "--oma", $"127.0.0.1:{TunnelPort}",
                "--fingerprint", fingerprint, "--token-file", tokenFile, "--name", AgentName], ct);
        }
        finally
        {
            File.Delete(tokenFile); // it worked once, or it is useless
        }

        Vma = LabProcess.Start("VMA agent", settings.VmaBinary, ["run", "--config", VmaConfigFile],
            Path.Combine(settings.LogDirectory, "vma.log"), settings.PidFile);
        _started.Add(Vma);
        await WaitForHealthAsync(Vma, new Uri(VmaApiAddress, "api/v1/health"), TimeSpan.FromSeconds(60), ct, acceptDegraded: true);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var agent = (await Api.GetAsync("api/v1/agents", ct)).Items().FirstOrDefault(a => a.Str("name") == AgentName);
            if (agent.ValueKind != JsonValueKind.Undefined && agent.GetProperty("connected").GetBoolean())
            {
                return;
            }
            Vma.ThrowIfExited();
            if (clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                throw new LabException($"the agent never connected to the OMA's tunnel; see {Vma.LogFile} and {Oma.LogFile}");
            }
            await Task.Delay(200, ct);
        }
    }

    /// <summary>What the agent's own API says about a VM (as an operator on the VMA would ask it).</summary>
    public async Task<JsonElement> VmaVmAsync(string moref, CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = VmaApiAddress, Timeout = TimeSpan.FromSeconds(60) };
        using var response = await http.GetAsync($"api/v1/vms/{moref}", ct);
        var text = await response.Content.ReadAsStringAsync(ct);
        if (!response.IsSuccessStatusCode)
        {
            throw new LabException($"the VMA's GET /api/v1/vms/{moref} answered {(int)response.StatusCode}: {text}");
        }
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    public IEnumerable<(string Name, string Log)> Logs()
    {
        yield return ("OMA", Path.Combine(settings.LogDirectory, "oma.log"));
        yield return ("VMA agent", Path.Combine(settings.LogDirectory, "vma.log"));
        yield return ("vCenter simulator", Path.Combine(settings.RunDirectory, "vcsim", "vcsim.log"));
    }

    private Task<string> RunOmaAsync(string[] arguments, CancellationToken ct) => RunAsync(settings.OmaBinary, arguments, ct);

    private static async Task<string> RunAsync(string binary, string[] arguments, CancellationToken ct)
    {
        await using var run = await ExternalProcess.RunAsync(binary, arguments, CommandTimeout, ct: ct);
        if (run.ExitCode != 0)
        {
            throw new LabException($"{Path.GetFileName(binary)} {arguments[0]} failed (exit {run.ExitCode}): {run.StandardError.Trim()}");
        }
        return run.StandardOutput;
    }

    private static async Task WaitForHealthAsync(LabProcess process, Uri health, TimeSpan timeout, CancellationToken ct, bool acceptDegraded = false)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            process.ThrowIfExited();
            try
            {
                using var response = await http.GetAsync(health, ct);
                if (response.IsSuccessStatusCode || (acceptDegraded && response.StatusCode == HttpStatusCode.ServiceUnavailable))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                // A slow answer while it starts.
            }
            if (clock.Elapsed > timeout)
            {
                throw new LabException($"{process.Name} did not answer {health} within {timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s; log: {process.LogFile}");
            }
            await Task.Delay(250, ct);
        }
    }

    private static async Task WritePrivateAsync(string path, string content, CancellationToken ct)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await using (var file = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create,
            Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        await using (var writer = new StreamWriter(file))
        {
            await writer.WriteAsync(content.AsMemory(), ct);
        }
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public async ValueTask DisposeAsync()
    {
        Api?.Dispose();
        for (var i = _started.Count - 1; i >= 0; i--)
        {
            try
            {
                await _started[i].DisposeAsync();
            }
            catch (Exception ex) when (ex is IOException or InvalidOperationException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"lab: stopping a peer failed: {ex.Message}");
            }
        }
        _started.Clear();
    }
}
