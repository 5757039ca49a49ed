using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using MediatR;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Host.Vma.Hosting;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Core.Contracts;
using MigrateKit.Modules.Transport.Pki;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.Ossea;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>
/// A true <c>kill -9</c> of the OMA mid-copy: the OMA runs as its own process (the built
/// migratekit-oma), the OSSEA emulator and the VMA agent stay in the test process, the vCenter
/// simulator in its own. After SIGKILL and a restart on the same database, tunnel port and PKI the
/// job completes without copying again what was already copied, and every target equals its source.
/// </summary>
[NonParallelizable] // one simulator, loop devices, fixed ports for the restarted OMA and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationKillTests : SimulatedVmTest
{
    private const long ImageSize = 32 * MiB;

    /// <summary>The OMA as a separate process: `dotnet migratekit-oma.dll run --config file`.</summary>
    private static async Task<ExternalProcess> StartOmaAsync(string config, Uri api)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "migratekit-oma.dll");
        Assert.That(File.Exists(dll), Is.True, dll);
        var oma = ExternalProcess.Start("dotnet", [dll, "run", "--config", config]);
        using var http = new HttpClient { BaseAddress = api, Timeout = TimeSpan.FromSeconds(5) };
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (oma.HasExited)
            {
                Assert.Fail($"the OMA process exited while starting: {oma}");
            }
            try
            {
                using var health = await http.GetAsync("api/v1/health");
                return oma; // any answer: Kestrel is up (health may say degraded)
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                if (clock.Elapsed > TimeSpan.FromSeconds(60))
                {
                    await oma.DisposeAsync();
                    Assert.Fail($"the OMA process did not answer within 60 s: {oma}");
                }
                await Task.Delay(200);
            }
        }
    }

    /// <summary>The real agent in this process, enrolled with and connected to the external OMA's tunnel.</summary>
    private async Task<WebApplication> StartAgentAsync(OmaTestHost helper, int tunnelPort, string name, (int Key, string Image)[] disks)
    {
        var state = TestDirectories.Create("vma-state");
        string token;
        await using (var scope = helper.Services.CreateAsyncScope())
        {
            token = (await scope.ServiceProvider.GetRequiredService<IMediator>()
                .Send(new CreateEnrollmentTokenCommand(name, TimeSpan.FromHours(1)))).Token;
        }
        await TunnelEnrollmentClient.EnrollAsync(new EnrollmentOptions
        {
            Host = "127.0.0.1",
            Port = tunnelPort,
            ServerFingerprint = CertificateFingerprint.Parse(AgentsModule.ServerFingerprint(helper.Services.GetRequiredService<IConfiguration>(), TimeProvider.System)),
            Token = token,
            AgentName = name,
            Timeout = TimeSpan.FromSeconds(10),
        }, new AgentCredentialStore(state), CancellationToken.None);
        var values = new Dictionary<string, string?>
        {
            ["VSphere:Address"] = Sim.Url.ToString(),
            ["VSphere:User"] = VcSimInstance.User,
            ["VSphere:PasswordFile"] = Sim.PasswordFile,
            ["VSphere:Thumbprint"] = Sim.Thumbprint,
            ["Vma:ApiListen"] = "127.0.0.1:0",
            ["Vma:Oma:Host"] = "127.0.0.1",
            ["Vma:Oma:Port"] = tunnelPort.ToString(CultureInfo.InvariantCulture),
            ["Vma:Oma:StateDirectory"] = state,
            ["Vma:Oma:Connections"] = "2",
            ["Vma:Oma:ReconnectInitialDelay"] = "00:00:00.050",
            ["Vma:Oma:ReconnectMaxDelay"] = "00:00:00.200",
            ["Vma:DiskSource"] = "mapped",
            ["Vma:Streaming:ChunkBytes"] = MiB.ToString(CultureInfo.InvariantCulture),
            ["Vma:Streaming:CheckpointInterval"] = "00:00:00.300",
            ["Vma:Streaming:CheckpointBytes"] = MiB.ToString(CultureInfo.InvariantCulture),
            ["Logging:LogLevel:Default"] = "Warning",
        };
        for (var i = 0; i < disks.Length; i++)
        {
            values[$"Vma:DiskMappings:{i}:Vm"] = Vm.Ref.Value;
            values[$"Vma:DiskMappings:{i}:DeviceKey"] = disks[i].Key.ToString(CultureInfo.InvariantCulture);
            values[$"Vma:DiskMappings:{i}:Source"] = disks[i].Image;
        }
        var app = VmaApplication.Build(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
        await app.StartAsync();
        return app;
    }

    private static HttpClient LocalClient(WebApplication agent) =>
        new() { BaseAddress = new Uri(agent.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()) };

    [Test]
    public async Task A_sigkilled_oma_restarts_and_finishes_the_job_without_copying_finished_extents_again()
    {
        var dir = TestDirectories.Create("repl-kill");
        (long, long)[][] data = [[(0, 12 * MiB)], [(0, MiB)], [(0, MiB)]];
        var disks = Vm.Disks.Select((d, i) => (Key: d.DeviceKey, Image: TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select((d, i) => (Vm.Ref.Value, d.Key, "*", data[i])).ToArray());

        await using var emulator = await OsseaEmulator.StartAsync();
        var pki = TestDirectories.Create("pki");
        var tunnelPort = FreePort.Get();
        var apiPort = FreePort.Get();
        var api = new Uri($"http://127.0.0.1:{apiPort}/");
        var shared = OmaWithOssea.SettingsFor(emulator);
        shared["Tunnel:PkiDirectory"] = pki;
        // In this process, for setup and for reading volumes only: it runs no replication worker.
        await using var helper = await OmaTestHost.StartAsync(ConnectionString, new Dictionary<string, string?>(shared) { ["Replication:Worker"] = "false" });
        OsseaConfigView config;
        string adminToken;
        await using (var scope = helper.Services.CreateAsyncScope())
        {
            var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
            config = await mediator.Send(new CreateOsseaConfigCommand
            {
                Name = "emulated", ApiUrl = emulator.ApiUrl.ToString(), ApiKey = emulator.ApiKey, SecretKey = emulator.SecretKey,
                Zone = emulator.ZoneId, DiskOfferingId = emulator.CustomDiskOfferingId, OmaVmId = emulator.OmaVmId,
            });
            adminToken = (await mediator.Send(new CreateAdminTokenCommand("kill-test"))).Token;
        }

        var file = Path.Combine(TestDirectories.Create("oma-config"), "oma.json");
        var settings = new Dictionary<string, string?>(shared)
        {
            ["Database:ConnectionString"] = ConnectionString,
            ["Api:Listen"] = $"127.0.0.1:{apiPort}",
            ["Secrets:KeyFile"] = TestDirectories.SecretKeyFile,
            ["Tunnel:Listen"] = $"127.0.0.1:{tunnelPort}",
            ["Nbd:Listen"] = "127.0.0.1:0",
            ["Replication:ScanInterval"] = "00:00:00.200",
            ["Replication:PollInterval"] = "00:00:00.200",
            ["Replication:AgentRetryDelay"] = "00:00:00.200",
            ["Logging:LogLevel:Default"] = "Warning",
        };
        // The file holds the connection string (with its password): never a command line.
        await File.WriteAllTextAsync(file, JsonSerializer.Serialize(Nest(settings)));

        var oma = await StartOmaAsync(file, api);
        ExternalProcess? restarted = null;
        var agent = await StartAgentAsync(helper, tunnelPort, "vma-kill", disks);
        try
        {
            using var local = LocalClient(agent);
            await WaitAsync(async () =>
                {
                    // The agent answers 503 with the same body until its tunnel is up.
                    using var health = await local.GetAsync("api/v1/health");
                    var body = await health.Content.ReadFromJsonAsync<JsonElement>();
                    return body.GetProperty("tunnel").GetProperty("state").GetString() == "connected";
                },
                TimeSpan.FromSeconds(30), "the agent's tunnel to the OMA process connected");
            using var admin = new HttpClient { BaseAddress = api };
            admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
            var id = await StartReplicationAsync(admin, config.Id, Vm.Ref.Value, "vma-kill", bandwidth: MiB); // 14 MiB at 1 MiB/s: long enough to kill it mid-copy
            var key0 = disks[0].Key.ToString(CultureInfo.InvariantCulture);
            await WaitAsync(async () => await QueryAsync<long>(
                    "SELECT COALESCE((SELECT sync_checkpoint FROM vm_disks WHERE job_id = @id AND disk_id = @key0), 0)", new { id, key0 }) >= 3 * MiB,
                TimeSpan.FromSeconds(30), "disk 0 checkpointed at 3 MiB");

            await using (var kill = await ExternalProcess.RunAsync("kill", ["-9", oma.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)))
            {
                Assert.That(kill.ExitCode, Is.Zero, kill.ToString());
            }
            await oma.WaitForExitAsync(TimeSpan.FromSeconds(10));
            var checkpointAtKill = await QueryAsync<long>("SELECT sync_checkpoint FROM vm_disks WHERE job_id = @id AND disk_id = @key0", new { id, key0 });
            var completedAtKill = (await QueryListAsync<string>("SELECT disk_id FROM vm_disks WHERE job_id = @id AND sync_status = 'completed'", new { id }))
                .Select(k => int.Parse(k, CultureInfo.InvariantCulture)).ToList();
            Assert.Multiple(async () =>
            {
                Assert.That(oma.ExitCode, Is.EqualTo(137), "killed by SIGKILL");
                Assert.That(await StatusAsync(id), Is.EqualTo("replicating"), "a killed OMA finishes nothing");
                Assert.That(checkpointAtKill, Is.LessThan(12 * MiB), "killed mid-copy");
            });

            restarted = await StartOmaAsync(file, api);
            await WaitAsync(async () => await StatusAsync(id) is "idle" or "failed", TimeSpan.FromSeconds(90), "the restarted OMA ended the job");
            Assert.That(await StatusAsync(id), Is.EqualTo("idle"),
                await QueryAsync<string?>("SELECT error_message FROM replication_jobs WHERE id = @id", new { id }) + "\n" + restarted);

            var syncs = (await local.GetFromJsonAsync<JsonElement>("api/v1/syncs")).EnumerateArray()
                .Where(s => s.GetProperty("jobId").GetString()!.StartsWith("repl-", StringComparison.Ordinal))
                .OrderBy(s => s.GetProperty("startedAt").GetDateTime()).ToList();
            var disk0 = syncs.Select(s => s.GetProperty("disks").EnumerateArray().SingleOrDefault(d => d.GetProperty("deviceKey").GetInt32() == disks[0].Key))
                .Where(d => d.ValueKind == JsonValueKind.Object).ToList();
            var sent0 = disk0.Sum(d => d.GetProperty("dataBytesSent").GetInt64());
            var last = disk0[^1];
            var resumedFrom = last.GetProperty("startOffset").GetInt64();
            var resumedKeys = syncs[^1].GetProperty("disks").EnumerateArray().Select(d => d.GetProperty("deviceKey").GetInt32()).ToList();
            await TestContext.Out.WriteLineAsync(
                $"agent syncs: {syncs.Count}; disk 0 checkpoint at kill {checkpointAtKill}, resumed from {resumedFrom}, data sent in all {sent0}; finished before the kill: {string.Join(",", completedAtKill)}");
            Assert.Multiple(async () =>
            {
                Assert.That(syncs, Is.Not.Empty);
                if (syncs.Count == 1)
                {
                    // The agent's sync outlived the OMA and the restarted one followed it.
                    Assert.That(sent0, Is.EqualTo(12 * MiB), "nothing sent twice");
                }
                else
                {
                    Assert.That(resumedFrom, Is.GreaterThanOrEqualTo(checkpointAtKill), "resumed from the checkpoint persisted before the kill");
                    Assert.That(last.GetProperty("dataBytesSent").GetInt64(), Is.EqualTo(12 * MiB - resumedFrom), "only what lay past the checkpoint");
                    Assert.That(resumedKeys.Intersect(completedAtKill), Is.Empty, "disks finished before the kill are not copied again");
                    // At most what was in flight past the last checkpoint is sent twice.
                    Assert.That(sent0, Is.LessThan(12 * MiB + (12 * MiB - checkpointAtKill)));
                }
                Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id", new { id }), Is.EqualTo(3), "one full copy per disk");
                Assert.That(await QueryAsync<long>("SELECT COUNT(*) FROM cbt_history WHERE job_id = @id AND sync_type = 'full'", new { id }), Is.EqualTo(3));
            });
            await using (var scope = helper.Services.CreateAsyncScope())
            {
                var mediator = scope.ServiceProvider.GetRequiredService<IMediator>();
                foreach (var (key, row) in await VolumeRowsAsync(id))
                {
                    var target = (await mediator.Send(new GetVolumeByRowIdQuery(row)))!.Mapping!.DevicePath!;
                    await AssertSameAsync(disks.Single(d => d.Key == key).Image, target, ImageSize);
                }
            }
        }
        finally
        {
            await agent.StopAsync(CancellationToken.None);
            await agent.DisposeAsync();
            if (restarted is not null)
            {
                if (TestContext.CurrentContext.Result.FailCount > 0)
                {
                    await TestContext.Out.WriteLineAsync(restarted.ToString());
                }
                await restarted.DisposeAsync();
            }
            await oma.DisposeAsync();
        }
    }

    private static async Task<List<T>> QueryListAsync<T>(string sql, object args)
    {
        await using var conn = await ReplicationTestKit.OpenAsync();
        return (await Dapper.SqlMapper.QueryAsync<T>(conn, sql, args)).ToList();
    }

    /// <summary>"A:B" keys as nested JSON objects (what the OMA's configuration file looks like).</summary>
    private static Dictionary<string, object> Nest(IReadOnlyDictionary<string, string?> flat)
    {
        var root = new Dictionary<string, object>();
        foreach (var (key, value) in flat)
        {
            var parts = key.Split(':');
            var node = root;
            foreach (var part in parts[..^1])
            {
                if (!node.TryGetValue(part, out var child))
                {
                    node[part] = child = new Dictionary<string, object>();
                }
                node = (Dictionary<string, object>)child;
            }
            node[parts[^1]] = value ?? "";
        }
        return root;
    }
}
