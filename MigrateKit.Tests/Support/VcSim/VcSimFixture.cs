using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Tests.Support.VcSim;

/// <summary>One VM as the simulator itself holds it (GET /_test/inventory).</summary>
internal sealed record VcSimVm(
    string Moref, string Name, string PowerState, bool ChangeTrackingEnabled,
    IReadOnlyList<int> DiskKeys, IReadOnlyList<int> NicKeys, IReadOnlyList<string> Snapshots);

/// <summary>What to start the simulator with.</summary>
internal sealed record VcSimSettings(int? SessionIdleSeconds = null);

/// <summary>
/// A running test vCenter (MigrateKit.Tests/Support/VcSim/main.go) on 127.0.0.1 with its own
/// user, password file and CBT file. Dispose stops it.
/// </summary>
internal sealed class VcSimInstance : IAsyncDisposable
{
    public const string User = "migratekit@vsphere.local";

    private readonly Process _process;
    private readonly StringBuilder _stderr;
    private readonly string _dir;

    private VcSimInstance(Process process, StringBuilder stderr, string dir, Uri url, string thumbprint, string passwordFile, string cbtFile)
    {
        _process = process;
        _stderr = stderr;
        _dir = dir;
        Url = url;
        Thumbprint = thumbprint;
        PasswordFile = passwordFile;
        CbtFile = cbtFile;
    }

    public Uri Url { get; }
    public string Thumbprint { get; }
    public string PasswordFile { get; }

    /// <summary>The file QueryChangedDiskAreas answers from; see <see cref="WriteChangedAreas"/>.</summary>
    public string CbtFile { get; }

    public string Log
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static async Task<VcSimInstance> StartAsync(VcSimSettings settings, CancellationToken ct)
    {
        var binary = await VcSimBuild.EnsureBuiltAsync(ct);
        var dir = Directory.CreateTempSubdirectory("mk-vcsim-").FullName;
        var passwordFile = Path.Combine(dir, "password");
        // A fresh random password per instance: tests prove it never shows up in messages.
        await File.WriteAllTextAsync(passwordFile, "pw-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)) + "\n", ct);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }
        var cbtFile = Path.Combine(dir, "cbt.json");

        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = dir,
        };
        psi.Environment["VCSIM_PORT"] = "0";
        psi.Environment["VCSIM_USER"] = User;
        psi.Environment["VCSIM_PASSWORD_FILE"] = passwordFile;
        psi.Environment["VCSIM_CBT_FILE"] = cbtFile;
        psi.Environment["VCSIM_EXIT_ON_STDIN_EOF"] = "1"; // our stdin pipe closes if this test host dies
        psi.Environment["TMPDIR"] = dir; // the simulator's datastores are temp dirs: keep them with the instance
        if (settings.SessionIdleSeconds is int idle)
        {
            psi.Environment["VCSIM_SESSION_IDLE_SECONDS"] = idle.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start the vCenter simulator");
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null)
            {
                lock (stderr)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.BeginErrorReadLine();

        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromSeconds(30));
            var line = await process.StandardOutput.ReadLineAsync(timeout.Token)
                ?? throw new InvalidOperationException($"the vCenter simulator exited before it was ready: {stderr}");
            using var ready = JsonDocument.Parse(line);
            var url = new Uri(ready.RootElement.GetProperty("url").GetString()!);
            var thumbprint = ready.RootElement.GetProperty("thumbprint").GetString()!;
            return new VcSimInstance(process, stderr, dir, url, thumbprint, passwordFile, cbtFile);
        }
        catch
        {
            Stop(process);
            Directory.Delete(dir, recursive: true);
            throw;
        }
    }

    public VSphereOptions Options(string? thumbprint = null, string? passwordFile = null) => new()
    {
        Address = Url.ToString(),
        User = User,
        PasswordFile = passwordFile ?? PasswordFile,
        Thumbprint = thumbprint ?? Thumbprint,
        RequestTimeout = TimeSpan.FromSeconds(30),
        TaskTimeout = TimeSpan.FromSeconds(30),
    };

    public VSphereClient CreateClient(TimeProvider? time = null) => new(Options(), time ?? TimeProvider.System);

    /// <summary>Writes the simulator's QueryChangedDiskAreas answers (read on every call).</summary>
    public void WriteChangedAreas(int pageSize, params (string Vm, int DeviceKey, string ChangeId, (long Start, long Length)[] Areas)[] disks)
    {
        var doc = new
        {
            pageSize,
            disks = disks.Select(d => new
            {
                vm = d.Vm,
                deviceKey = d.DeviceKey,
                changeId = d.ChangeId,
                areas = d.Areas.Select(a => new { start = a.Start, length = a.Length }),
            }),
        };
        var tmp = CbtFile + ".tmp";
        File.WriteAllText(tmp, JsonSerializer.Serialize(doc));
        File.Move(tmp, CbtFile, overwrite: true);
    }

    private HttpClient ControlClient() => new(new SocketsHttpHandler
    {
        SslOptions = new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, cert, _, _) =>
                cert is not null && VSphereOptions.FormatThumbprint(SHA1.HashData(cert.GetRawCertData())) == Thumbprint,
        },
    });

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The simulator's own view of its VMs, read from its registry rather than through SOAP.</summary>
    public async Task<IReadOnlyList<VcSimVm>> InventoryAsync(CancellationToken ct)
    {
        using var http = ControlClient();
        var json = await http.GetStringAsync(new Uri(Url, "/_test/inventory"), ct);
        return JsonSerializer.Deserialize<List<VcSimVm>>(json, Json) ?? [];
    }

    /// <summary>Makes the simulator forget every session it issued (POST /_test/expire-sessions).</summary>
    public async Task<int> ExpireSessionsAsync(CancellationToken ct)
    {
        using var http = ControlClient();
        using var response = await http.PostAsync(new Uri(Url, "/_test/expire-sessions"), null, ct);
        response.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(ct));
        return body.RootElement.GetProperty("expired").GetInt32();
    }

    public ValueTask DisposeAsync()
    {
        Stop(_process);
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Leftover temp files are harmless.
        }
        return ValueTask.CompletedTask;
    }

    private static void Stop(Process process)
    {
        try
        {
            if (!process.HasExited)
            {
                // Closing stdin lets it shut down cleanly (and remove its datastore temp dirs).
                process.StandardInput.Close();
                if (!process.WaitForExit(3000))
                {
                    process.Kill();
                    process.WaitForExit(5000);
                }
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        process.Dispose();
    }
}

/// <summary>Builds the simulator once per test run through scripts/vcsim (which caches by source hash).</summary>
internal static class VcSimBuild
{
    private static readonly SemaphoreSlim Lock = new(1, 1);
    private static string? _binary;

    public static async Task<string> EnsureBuiltAsync(CancellationToken ct)
    {
        await Lock.WaitAsync(ct);
        try
        {
            if (_binary is not null)
            {
                return _binary;
            }
            var root = RepoRoot();
            var psi = new ProcessStartInfo("bash", [Path.Combine(root, "scripts", "vcsim"), "build"])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = root,
            };
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("cannot run scripts/vcsim");
            var stdout = process.StandardOutput.ReadToEndAsync(ct);
            var stderr = process.StandardError.ReadToEndAsync(ct);
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
            timeout.CancelAfter(TimeSpan.FromMinutes(5));
            await process.WaitForExitAsync(timeout.Token);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException(
                    $"scripts/vcsim build failed ({process.ExitCode}); it needs golang-go and golang-github-vmware-govmomi-dev:\n{await stdout}{await stderr}");
            }
            var runDir = Environment.GetEnvironmentVariable("MIGRATEKIT_RUN_DIR") is { Length: > 0 } r ? r : Path.Combine(root, ".run");
            var binary = Path.Combine(runDir, "vcsim", "vcsim-mk");
            if (!File.Exists(binary))
            {
                throw new InvalidOperationException($"scripts/vcsim build did not produce {binary}");
            }
            _binary = binary;
            return binary;
        }
        finally
        {
            Lock.Release();
        }
    }

    private static string RepoRoot()
    {
        if (Environment.GetEnvironmentVariable("MIGRATEKIT_REPO_ROOT") is { Length: > 0 } env)
        {
            return env;
        }
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "MigrateKit.sln")))
            {
                return dir.FullName;
            }
        }
        throw new InvalidOperationException("cannot find the repository root (MigrateKit.sln); set MIGRATEKIT_REPO_ROOT");
    }
}

/// <summary>
/// Base for fixtures that talk to the simulator: one fresh simulator per fixture, started in
/// OneTimeSetUp and stopped in OneTimeTearDown. Fixtures that derive from it share that process
/// between their tests, so they are [NonParallelizable].
/// </summary>
public abstract class VcSimFixture
{
    private VcSimInstance? _sim;

    internal VcSimInstance Sim => _sim ?? throw new InvalidOperationException("the simulator is not started");

    internal virtual VcSimSettings Settings => new();

    [OneTimeSetUp]
    public async Task StartVcSimAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        _sim = await VcSimInstance.StartAsync(Settings, cts.Token);
    }

    [OneTimeTearDown]
    public async Task StopVcSimAsync()
    {
        if (_sim is not null)
        {
            if (TestContext.CurrentContext.Result.FailCount > 0)
            {
                await TestContext.Out.WriteLineAsync("vCenter simulator log:\n" + _sim.Log);
            }
            await _sim.DisposeAsync();
            _sim = null;
        }
    }
}
