using System.Runtime.Versioning;
using System.Text.Json;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Install;

/// <summary>
/// scripts/install-oma and scripts/install-vma against a staging root (--root): systemd is not PID 1
/// on the test machines, so host changes (useradd, chown, systemctl, MariaDB) are checked as the
/// "would run: …" lines the scripts print, and every file, mode and unit line is checked on disk.
/// </summary>
[TestFixture]
[SupportedOSPlatform("linux")] // bash scripts, systemd units and Unix file modes
[NonParallelizable] // shares one long scripts/publish run (ReleaseArtifacts); each install copies ~150 MB
[Category(TestKind.Install)]
public sealed class InstallScriptTests
{
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0640 = Mode0600 | UnixFileMode.GroupRead;
    private const UnixFileMode Mode0644 = Mode0640 | UnixFileMode.OtherRead;
    private const UnixFileMode Mode0750 = Mode0640 | UnixFileMode.UserExecute | UnixFileMode.GroupExecute;
    private const UnixFileMode Mode0755 = Mode0750 | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    private ReleaseArtifacts _artifacts = null!;

    [OneTimeSetUp]
    public async Task PublishOnce() => _artifacts = await ReleaseArtifacts.GetAsync(CancellationToken.None);

    [Test]
    public async Task InstallOma_LaysOutBinariesConfigDataAndUnit()
    {
        var root = TestDirectories.Create("root-oma");
        var run = await InstallOmaAsync(root, "--local-db");
        var v = _artifacts.Version;

        var config = At(root, "/etc/migratekit/oma.json");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(config));
        var password = await File.ReadAllTextAsync(At(root, "/etc/migratekit/db-password"));
        var unit = UnitLines(root, "migratekit-oma.service");
        await using var installed = await ExternalProcess.RunAsync(At(root, "/opt/migratekit/oma/current/migratekit-oma"), ["--version"], TimeSpan.FromSeconds(30));

        Assert.Multiple(() =>
        {
            Assert.That(File.GetUnixFileMode(At(root, $"/opt/migratekit/oma/{v}/migratekit-oma")), Is.EqualTo(Mode0755));
            Assert.That(new FileInfo(At(root, "/opt/migratekit/oma/current")).LinkTarget, Is.EqualTo(v));
            Assert.That(new FileInfo(At(root, "/usr/local/bin/migratekit-oma")).LinkTarget, Is.EqualTo("/opt/migratekit/oma/current/migratekit-oma"));
            Assert.That(installed.StandardOutput.Trim(), Is.EqualTo(v), installed.ToString());

            Assert.That(File.GetUnixFileMode(config), Is.EqualTo(Mode0640));
            var db = json.RootElement.GetProperty("Database");
            Assert.That(db.GetProperty("PasswordFile").GetString(), Is.EqualTo("/etc/migratekit/db-password"));
            Assert.That(db.GetProperty("ConnectionString").GetString(), Does.Contain("Database=migratekit").And.Not.Contain("Password"));
            Assert.That(json.RootElement.GetProperty("Oma").GetProperty("DataDirectory").GetString(), Is.EqualTo("/var/lib/migratekit"));
            Assert.That(json.RootElement.GetProperty("Tunnel").GetProperty("Listen").GetString(), Is.EqualTo("0.0.0.0:443"));
            Assert.That(json.RootElement.GetProperty("Api").GetProperty("Listen").GetString(), Is.EqualTo("127.0.0.1:8082"));
            Assert.That(json.RootElement.GetProperty("Nbd").GetProperty("Listen").GetString(), Is.EqualTo("127.0.0.1:10809"));

            Assert.That(File.GetUnixFileMode(At(root, "/etc/migratekit/db-password")), Is.EqualTo(Mode0600));
            Assert.That(password, Does.Match("^[A-Za-z0-9]{24,}$"), "a generated password, one line of letters and digits");
            Assert.That(run.Stdout, Does.Not.Contain(password), "the password is never printed");

            Assert.That(File.GetUnixFileMode(At(root, "/var/lib/migratekit")), Is.EqualTo(Mode0750));
            Assert.That(File.GetUnixFileMode(At(root, "/etc/systemd/system/migratekit-oma.service")), Is.EqualTo(Mode0644));

            Assert.That(unit, Is.SupersetOf(new[]
            {
                "Type=notify",
                "ExecStart=/opt/migratekit/oma/current/migratekit-oma run --config /etc/migratekit/oma.json",
                "User=migratekit",
                "SupplementaryGroups=disk",
                "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                "NoNewPrivileges=yes",
                "ProtectSystem=strict",
                "ReadWritePaths=/var/lib/migratekit",
                "PrivateTmp=yes",
                "PrivateDevices=no",
                "Restart=on-failure",
                "After=network-online.target mariadb.service",
                "WantedBy=multi-user.target",
            }));
            Assert.That(unit, Has.None.StartWith("MemoryDenyWriteExecute"), "the .NET JIT needs writable+executable pages");
            Assert.That(unit, Has.None.StartWith("DevicePolicy").And.None.StartWith("DeviceAllow").And.None.StartWith("ProtectClock"),
                "volumes attached later must be reachable (ProtectClock implies DeviceAllow=char-rtc, closing the device policy)");

            Assert.That(run.Lines, Is.SupersetOf(new[]
            {
                "would run: useradd --system --user-group --home-dir /var/lib/migratekit --no-create-home --shell /usr/sbin/nologin migratekit",
                "would run: usermod --append --groups disk migratekit",
                "would run: chown migratekit:migratekit /var/lib/migratekit",
                "would run: chown root:migratekit /etc/migratekit/oma.json",
                "would run: chown migratekit:migratekit /etc/migratekit/db-password",
                "would run: mariadb --user=root < SQL (create database migratekit and user 'migratekit'@'127.0.0.1')",
                "would run: systemctl daemon-reload",
                "would run: systemctl enable migratekit-oma.service",
                "would run: systemctl restart migratekit-oma.service",
            }));
            Assert.That(run.Stdout, Does.Contain("create-token").And.Contain("fingerprint").And.Contain("enroll-token"));
        });
    }

    [Test]
    public async Task InstallVma_LaysOutOneBinaryConfigStateDirectoryAndUnit()
    {
        var root = TestDirectories.Create("root-vma");
        var run = await InstallVmaAsync(root);
        var v = _artifacts.Version;

        var config = At(root, "/etc/migratekit/vma.json");
        using var json = JsonDocument.Parse(await File.ReadAllTextAsync(config));
        var unit = UnitLines(root, "migratekit-vma.service");

        Assert.Multiple(() =>
        {
            Assert.That(Directory.GetFileSystemEntries(At(root, $"/opt/migratekit/vma/{v}")).Select(Path.GetFileName), Is.EqualTo(new[] { "migratekit-vma" }));
            Assert.That(File.GetUnixFileMode(At(root, $"/opt/migratekit/vma/{v}/migratekit-vma")), Is.EqualTo(Mode0755));
            Assert.That(new FileInfo(At(root, "/opt/migratekit/vma/current")).LinkTarget, Is.EqualTo(v));

            Assert.That(File.GetUnixFileMode(config), Is.EqualTo(Mode0640));
            Assert.That(json.RootElement.GetProperty("VSphere").GetProperty("PasswordFile").GetString(), Is.EqualTo("/etc/migratekit/vcenter-password"));
            var vma = json.RootElement.GetProperty("Vma");
            Assert.That(vma.GetProperty("ApiListen").GetString(), Is.EqualTo("127.0.0.1:8081"));
            Assert.That(vma.GetProperty("Oma").GetProperty("Port").GetInt32(), Is.EqualTo(443));
            Assert.That(vma.GetProperty("Oma").GetProperty("StateDirectory").GetString(), Is.EqualTo("/var/lib/migratekit-vma"));
            Assert.That(File.GetUnixFileMode(At(root, "/var/lib/migratekit-vma")), Is.EqualTo(Mode0750));

            Assert.That(unit, Is.SupersetOf(new[]
            {
                "Type=notify",
                "ExecStart=/opt/migratekit/vma/current/migratekit-vma run --config /etc/migratekit/vma.json",
                "User=migratekit-vma",
                "NoNewPrivileges=yes",
                "ProtectSystem=strict",
                "ReadWritePaths=/var/lib/migratekit-vma",
                "PrivateTmp=yes",
                "PrivateDevices=yes",
                "Restart=on-failure",
                "After=network-online.target",
            }));
            Assert.That(unit, Has.None.StartWith("AmbientCapabilities"), "the agent only connects out: no capabilities");

            Assert.That(run.Lines, Is.SupersetOf(new[]
            {
                "would run: useradd --system --user-group --home-dir /var/lib/migratekit-vma --no-create-home --shell /usr/sbin/nologin migratekit-vma",
                "would run: chown migratekit-vma:migratekit-vma /var/lib/migratekit-vma",
                "would run: chown root:migratekit-vma /etc/migratekit/vma.json",
                "would run: systemctl enable migratekit-vma.service",
            }));
            // A new agent is not configured or enrolled yet: it is enabled, not started.
            Assert.That(run.Lines, Has.None.StartWith("would run: systemctl start").And.None.StartWith("would run: systemctl restart"));
            Assert.That(run.Stdout, Does.Contain("enroll --oma"));
        });
    }

    [Test]
    public async Task RunningAgain_KeepsTheOperatorsConfigAndPassword_AndRestartsNothing()
    {
        var root = TestDirectories.Create("root-again");
        await InstallOmaAsync(root, "--local-db");
        await InstallVmaAsync(root);
        var omaConfig = At(root, "/etc/migratekit/oma.json");
        var edited = (await File.ReadAllTextAsync(omaConfig)).Replace("127.0.0.1:8082", "127.0.0.1:9092", StringComparison.Ordinal);
        await File.WriteAllTextAsync(omaConfig, edited);
        var password = await File.ReadAllTextAsync(At(root, "/etc/migratekit/db-password"));

        var oma = await InstallOmaAsync(root, "--local-db");
        var vma = await InstallVmaAsync(root);
        var configAfter = await File.ReadAllTextAsync(omaConfig);
        var passwordAfter = await File.ReadAllTextAsync(At(root, "/etc/migratekit/db-password"));

        Assert.Multiple(() =>
        {
            Assert.That(configAfter, Is.EqualTo(edited));
            Assert.That(passwordAfter, Is.EqualTo(password));
            Assert.That(oma.Lines, Does.Contain("kept existing /etc/migratekit/oma.json"));
            Assert.That(oma.Lines, Does.Contain("unchanged /etc/systemd/system/migratekit-oma.service"));
            // Nothing changed, so the OMA is only started (a no-op when it runs) and the agent left alone.
            Assert.That(oma.Lines, Does.Contain("would run: systemctl start migratekit-oma.service"));
            Assert.That(oma.Lines, Has.None.Contains("restart migratekit"));
            Assert.That(vma.Lines, Does.Contain("kept existing /etc/migratekit/vma.json"));
            Assert.That(vma.Lines, Has.None.Contains("restart migratekit"));
            Assert.That(new DirectoryInfo(At(root, "/opt/migratekit/oma")).EnumerateFileSystemInfos().Select(e => (e.Name, e.LinkTarget)),
                Is.EquivalentTo(new[] { (_artifacts.Version, (string?)null), ("current", _artifacts.Version) }));
        });
    }

    [Test]
    public async Task Upgrade_SwitchesCurrent_KeepsThePreviousVersion_AndRestartsARunningAgent()
    {
        // Later versions stand in as small executables that report another version: the installer
        // takes the version from the artifact's --version, and this is about what it does with it.
        var root = TestDirectories.Create("root-upgrade");
        await InstallVmaAsync(root);
        var scratch = TestDirectories.Create("upgrades");
        var second = await FakeVmaAsync(scratch, "9.9.1");
        var third = await FakeVmaAsync(scratch, "9.9.2");

        var upgrade = await RunAsync("install-vma", "--root", root, "--from", second);
        var versionsAfterSecond = InstalledVersions(root);
        var again = await RunAsync("install-vma", "--root", root, "--from", third);

        Assert.Multiple(() =>
        {
            Assert.That(upgrade.Lines, Does.Contain($"installed /opt/migratekit/vma/9.9.1 (current -> 9.9.1, was {_artifacts.Version})"));
            Assert.That(upgrade.Lines, Does.Contain("would run: systemctl try-restart migratekit-vma.service"), "a running agent picks up the new version");
            Assert.That(versionsAfterSecond, Is.EquivalentTo(new[] { (_artifacts.Version, (string?)null), ("9.9.1", null), ("current", "9.9.1") }));
            Assert.That(again.Lines, Does.Contain($"removed old version {_artifacts.Version}"));
            Assert.That(InstalledVersions(root), Is.EquivalentTo(new[] { ("9.9.1", (string?)null), ("9.9.2", null), ("current", "9.9.2") }));
        });
    }

    [Test]
    public async Task RealInstall_OmaWithLocalDbAndVma_ServiceUsersRunTheirBinaries_AndPurgeRemovesEverything()
    {
        // Not staged: real useradd, chown and MariaDB, inside a private mount and network namespace
        // whose overlays keep the machine untouched (real-install.sh).
        if (!Environment.IsPrivilegedProcess || !File.Exists("/usr/bin/unshare"))
        {
            Assert.Ignore("needs root and unshare(1) for a private mount namespace: the real (unstaged) install was not exercised");
        }
        var scratch = TestDirectories.Create("real-install");
        var script = Path.Combine(RepoPaths.Root, "MigrateKit.Tests", "Install", "real-install.sh");
        await using var run = await ExternalProcess.RunAsync("/usr/bin/unshare",
            ["--mount", "--net", "--propagation", "private", "bash", script, RepoPaths.Root, _artifacts.OmaDirectory, _artifacts.VmaBinary, scratch],
            TimeSpan.FromMinutes(3));
        if (run.ExitCode == 77)
        {
            Assert.Ignore("this machine cannot overlay /etc, /opt, /var and /usr in a namespace: " + run.StandardError.Trim());
        }
        var output = run.StandardOutput;
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Zero, run.ToString());
            Assert.That(output, Does.Match(@"== user: uid=\d+\(migratekit\) gid=\d+\(migratekit\) groups=.*\(disk\)"));
            Assert.That(output, Does.Contain("/etc/migratekit/oma.json 640 root:migratekit;/etc/migratekit/db-password 600 migratekit:migratekit;/var/lib/migratekit 750 migratekit:migratekit;"));
            Assert.That(output, Does.Contain("schema up to date"), "the generated password and the local database work with the installed config");
            Assert.That(output, Does.Match(@"== fingerprint\n([0-9A-F]{2}:){31}[0-9A-F]{2}\n"));
            Assert.That(output, Does.Contain("== pki owner: migratekit"));
            Assert.That(output, Does.Contain("skipped (systemd is not running): systemctl enable migratekit-oma.service"));
            Assert.That(output, Does.Contain("== after purge: user=none opt=none etc=none database=\n"));
            Assert.That(output, Does.Match(@"== vma user: uid=\d+\(migratekit-vma\) gid=\d+\(migratekit-vma\) groups=\d+\(migratekit-vma\)\n"));
            Assert.That(output, Does.Contain("== vma modes: /etc/migratekit/vma.json 640 root:migratekit-vma;/var/lib/migratekit-vma 750 migratekit-vma:migratekit-vma;"));
            Assert.That(output, Does.Contain($"== vma version: {_artifacts.Version}\n"));
            Assert.That(output, Does.Contain("== vma after purge: user=none opt=none etc=none\n"));
        });
    }

    [Test]
    public async Task Units_PassSystemdAnalyzeVerify()
    {
        var analyze = new[] { "/usr/bin/systemd-analyze", "/bin/systemd-analyze" }.FirstOrDefault(File.Exists);
        if (analyze is null)
        {
            Assert.Ignore("systemd-analyze is not installed here (Debian package systemd): the units were not verified");
        }
        var root = TestDirectories.Create("root-verify");
        await InstallOmaAsync(root, "--local-db");
        await InstallVmaAsync(root);
        // verify --root resolves everything inside the root: the units the services hang off
        // (multi-user.target, network-online.target, sysinit.target) and ExecReload's /bin/kill.
        CopyDirectory("/lib/systemd/system", At(root, "/usr/lib/systemd/system"));
        Directory.CreateDirectory(At(root, "/bin"));
        File.Copy("/bin/kill", At(root, "/bin/kill"));

        foreach (var unit in new[] { "migratekit-oma.service", "migratekit-vma.service" })
        {
            await using var verify = await ExternalProcess.RunAsync(analyze, ["verify", "--root=" + root, "/etc/systemd/system/" + unit], TimeSpan.FromSeconds(60));
            // It exits 0 on unknown keys and bad values too, and only warns: any output is a finding.
            Assert.That((verify.ExitCode, verify.StandardOutput + verify.StandardError), Is.EqualTo((0, "")), verify.ToString());
        }
    }

    [Test]
    public async Task Uninstall_KeepsConfigAndData_AndPurgeLeavesNothingBehind()
    {
        var root = TestDirectories.Create("root-purge");
        await InstallOmaAsync(root, "--local-db");
        await InstallVmaAsync(root);

        var omaOff = await RunAsync("install-oma", "--root", root, "--uninstall");
        var vmaOff = await RunAsync("install-vma", "--root", root, "--uninstall");
        Assert.Multiple(() =>
        {
            Assert.That(omaOff.Lines, Does.Contain("would run: systemctl disable --now migratekit-oma.service"));
            Assert.That(vmaOff.Lines, Does.Contain("would run: systemctl disable --now migratekit-vma.service"));
            Assert.That(Directory.Exists(At(root, "/opt/migratekit")), Is.False);
            Assert.That(File.Exists(At(root, "/etc/systemd/system/migratekit-oma.service")), Is.False);
            Assert.That(File.Exists(At(root, "/etc/systemd/system/migratekit-vma.service")), Is.False);
            Assert.That(File.Exists(At(root, "/usr/local/bin/migratekit-oma")), Is.False);
            Assert.That(File.Exists(At(root, "/etc/migratekit/oma.json")), Is.True, "uninstall without --purge keeps the configuration");
            Assert.That(File.Exists(At(root, "/etc/migratekit/db-password")), Is.True);
            Assert.That(Directory.Exists(At(root, "/var/lib/migratekit-vma")), Is.True, "and the agent's credentials");
        });

        var omaPurge = await RunAsync("install-oma", "--root", root, "--uninstall", "--purge", "--local-db");
        var vmaPurge = await RunAsync("install-vma", "--root", root, "--uninstall", "--purge");
        Assert.Multiple(() =>
        {
            Assert.That(omaPurge.Lines, Does.Contain("would run: userdel migratekit"));
            Assert.That(omaPurge.Lines, Does.Contain("would run: mariadb --user=root < SQL (drop database migratekit and user migratekit)"));
            Assert.That(vmaPurge.Lines, Does.Contain("would run: userdel migratekit-vma"));
            Assert.That(Directory.GetFileSystemEntries(root, "*", SearchOption.AllDirectories), Is.Empty);
        });
    }

    [Test]
    public async Task InstallOma_RefusesAPasswordInTheConnectionString_AndWritesNothing()
    {
        var root = TestDirectories.Create("root-refuse");
        var run = await RunAsync("install-oma", expectSuccess: false, "--root", root, "--from", _artifacts.OmaDirectory,
            "--db-connection", "Server=db.example;Database=migratekit;User ID=mk;Password=secret");
        Assert.Multiple(() =>
        {
            Assert.That(run.ExitCode, Is.Not.Zero);
            Assert.That(run.Stderr, Does.Contain("--db-password-file"));
            Assert.That(Directory.GetFileSystemEntries(root), Is.Empty);
        });
    }

    private Task<ScriptRun> InstallOmaAsync(string root, params string[] extra) =>
        RunAsync("install-oma", ["--root", root, "--from", _artifacts.OmaDirectory, .. extra]);

    private Task<ScriptRun> InstallVmaAsync(string root) =>
        RunAsync("install-vma", "--root", root, "--from", _artifacts.VmaBinary);

    private static Task<ScriptRun> RunAsync(string script, params string[] arguments) => RunAsync(script, expectSuccess: true, arguments);

    private static async Task<ScriptRun> RunAsync(string script, bool expectSuccess, params string[] arguments)
    {
        await using var process = await ExternalProcess.RunAsync(ReleaseArtifacts.Script(script), arguments, TimeSpan.FromMinutes(2));
        if (expectSuccess && process.ExitCode != 0)
        {
            Assert.Fail($"scripts/{script} failed: {process}");
        }
        return new ScriptRun(process.ExitCode, process.StandardOutput, process.StandardError);
    }

    private static string At(string root, string path) => root + path;

    private static List<(string Name, string? LinkTarget)> InstalledVersions(string root) =>
        [.. new DirectoryInfo(At(root, "/opt/migratekit/vma")).EnumerateFileSystemInfos().Select(e => (e.Name, e.LinkTarget))];

    private static async Task<string> FakeVmaAsync(string directory, string version)
    {
        var path = Path.Combine(directory, $"migratekit-vma-{version}-linux-x64");
        await File.WriteAllTextAsync(path, $"#!/bin/sh\necho {version}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private static List<string> UnitLines(string root, string unit) =>
        [.. File.ReadAllLines(At(root, "/etc/systemd/system/" + unit)).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#'))];

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var entry in new DirectoryInfo(from).EnumerateFileSystemInfos())
        {
            var target = Path.Combine(to, entry.Name);
            if (entry.LinkTarget is { } link)
            {
                File.CreateSymbolicLink(target, link);
            }
            else if (entry is DirectoryInfo dir)
            {
                CopyDirectory(dir.FullName, target);
            }
            else
            {
                File.Copy(entry.FullName, target);
            }
        }
    }

    private sealed record ScriptRun(int ExitCode, string Stdout, string Stderr)
    {
        public IReadOnlyList<string> Lines { get; } = Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }
}
