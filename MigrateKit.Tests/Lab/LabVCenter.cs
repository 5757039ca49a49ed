using System.Net.Security;
using System.Security.Cryptography;
using System.Text.Json;

namespace MigrateKit.Lab;

/// <summary>One VM as the simulator holds it (its GET /_test/inventory).</summary>
internal sealed record LabSimVm(string Moref, string Name, string PowerState, IReadOnlyList<int> DiskKeys, IReadOnlyList<int> NicKeys);

/// <summary>
/// The test vCenter (MigrateKit.Tests/Support/VcSim/main.go, built by scripts/vcsim) as a lab process:
/// a random password in a 0600 file, QueryChangedDiskAreas answered from <see cref="CbtFile"/>.
/// (The test fixture's VcSimInstance needs NUnit and the Vma module's internals, so the lab starts
/// the same binary with the same environment contract itself.)
/// </summary>
internal sealed class LabVCenter : IAsyncDisposable
{
    public const string User = "migratekit@vsphere.local";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    private readonly LabProcess _process;

    private LabVCenter(LabProcess process, Uri url, string thumbprint, string passwordFile, string cbtFile)
    {
        _process = process;
        Url = url;
        Thumbprint = thumbprint;
        PasswordFile = passwordFile;
        CbtFile = cbtFile;
    }

    public Uri Url { get; }
    public string Thumbprint { get; }
    public string PasswordFile { get; }
    public string CbtFile { get; }
    public string LogFile => _process.LogFile;

    public static async Task<LabVCenter> StartAsync(string binary, string dir, string pidFile, CancellationToken ct)
    {
        Directory.CreateDirectory(dir);
        var tmp = Directory.CreateDirectory(Path.Combine(dir, "tmp")).FullName;
        var passwordFile = Path.Combine(dir, "password");
        await File.WriteAllTextAsync(passwordFile, "lab-" + Convert.ToHexString(RandomNumberGenerator.GetBytes(12)) + "\n", ct);
        File.SetUnixFileMode(passwordFile, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var cbtFile = Path.Combine(dir, "cbt.json");
        var ready = Path.Combine(dir, "ready.json");
        File.Delete(ready);
        // Its first stdout line is the ready JSON; the lab process writes stdout+stderr to the log,
        // so the ready line is read from there.
        var log = Path.Combine(dir, "vcsim.log");
        File.Delete(log);
        var process = LabProcess.Start("vCenter simulator", binary, [], log, pidFile, new Dictionary<string, string>
        {
            ["VCSIM_PORT"] = "0",
            ["VCSIM_USER"] = User,
            ["VCSIM_PASSWORD_FILE"] = passwordFile,
            ["VCSIM_CBT_FILE"] = cbtFile,
            ["TMPDIR"] = tmp, // its datastores are temp dirs: keep them in the lab's folder
        }, dir);
        try
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                process.ThrowIfExited();
                var line = File.Exists(log) ? File.ReadLines(log).FirstOrDefault(l => l.StartsWith('{') && l.Contains("\"url\"", StringComparison.Ordinal)) : null;
                if (line is not null)
                {
                    using var doc = JsonDocument.Parse(line);
                    return new LabVCenter(process, new Uri(doc.RootElement.GetProperty("url").GetString()!),
                        doc.RootElement.GetProperty("thumbprint").GetString()!, passwordFile, cbtFile);
                }
                if (clock.Elapsed > TimeSpan.FromSeconds(30))
                {
                    throw new LabException($"the vCenter simulator was not ready within 30 s; log: {log}");
                }
                await Task.Delay(100, ct);
            }
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    /// <summary>Writes the simulator's QueryChangedDiskAreas answers (it reads the file on every call).</summary>
    public void WriteChangedAreas(IEnumerable<(string Vm, int DeviceKey, string ChangeId, IReadOnlyList<LabExtent> Areas)> disks)
    {
        var doc = new
        {
            pageSize = 0,
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

    /// <summary>The simulator's own view of its VMs (its control endpoint, pinned to its certificate).</summary>
    public async Task<IReadOnlyList<LabSimVm>> InventoryAsync(CancellationToken ct)
    {
        using var http = new HttpClient(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && SameThumbprint(SHA1.HashData(cert.GetRawCertData()), Thumbprint),
            },
        });
        http.Timeout = TimeSpan.FromSeconds(30);
        var text = await http.GetStringAsync(new Uri(Url, "/_test/inventory"), ct);
        return JsonSerializer.Deserialize<List<LabSimVm>>(text, Json) ?? [];
    }

    private static bool SameThumbprint(byte[] hash, string thumbprint) =>
        string.Equals(Convert.ToHexString(hash), thumbprint.Replace(":", "", StringComparison.Ordinal), StringComparison.OrdinalIgnoreCase);

    public ValueTask DisposeAsync() => _process.DisposeAsync();
}
