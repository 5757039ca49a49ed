using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MediatR;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Failover;

/// <summary>
/// Failover and cleanup through the OMA's REST API with every real peer: a VM of the vCenter
/// simulator replicated by the real VMA agent through the tunnel into the OSSEA emulator's loop
/// devices, MariaDB, and the emulator's VMs, snapshots and injected failures. One fixture (split
/// over several files) so the simulator starts once.
/// </summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed partial class FailoverTests : SimulatedVmTest
{
    private const long ImageSize = 16 * MiB;
    private static readonly TimeSpan FailoverTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A replicated VM: the OMA with its emulator (on database <see cref="ConnectionString"/>), the agent, an admin client, the replication and its source images.</summary>
    private sealed class Replicated(OmaWithOssea env, VmaTestAgent agent, HttpClient admin, Guid id, (int Key, string Image)[] disks, string connectionString)
        : IAsyncDisposable
    {
        public string ConnectionString { get; } = connectionString;
        public OmaWithOssea Env { get; } = env;
        public VmaTestAgent Agent { get; } = agent;
        public HttpClient Admin { get; } = admin;
        public Guid Id { get; } = id;
        public (int Key, string Image)[] Disks { get; } = disks;

        public async ValueTask DisposeAsync()
        {
            Admin.Dispose();
            await Agent.DisposeAsync();
            await Env.DisposeAsync();
        }
    }

    /// <summary>Starts the OMA and the agent and replicates the simulator's three-disk VM once (a full copy).</summary>
    private Task<Replicated> ReplicateAsync(string agentName, params (string Key, string Value)[] settings) =>
        ReplicateOnAsync(ConnectionString, agentName, settings);

    /// <summary>The same on another database (an upgrade test's older schema).</summary>
    private async Task<Replicated> ReplicateOnAsync(string connectionString, string agentName, params (string Key, string Value)[] settings)
    {
        var dir = TestDirectories.Create("failover-images");
        (long, long)[][] data = [[(0, 2 * MiB), (8 * MiB, MiB)], [(MiB, MiB)], [(0, 512 * 1024)]];
        var disks = Vm.Disks.Select((d, i) => (Key: d.DeviceKey, Image: TestImages.Create(dir, $"disk{i}.raw", ImageSize, data[i]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select((d, i) => (Vm.Ref.Value, d.Key, "*", data[i])).ToArray());
        var all = new List<(string, string)>
        {
            ("Failover:ScanInterval", "00:00:00.200"),
            ("Cleanup:ScanInterval", "00:00:00.200"),
            // Never the real ISO path: whether a developer machine has virtio-win must not change a test.
            ("Failover:VirtioWinIso", Path.Combine(dir, "no-virtio-win.iso")),
        };
        all.AddRange(settings);
        var env = await OmaWithOssea.StartAsync(connectionString, FastWorker(all.ToArray()));
        VmaTestAgent? agent = null;
        try
        {
            agent = await VmaTestAgent.StartAsync(env, Sim, agentName, disks.Select(d => (Vm.Ref.Value, d.Key, d.Image)));
            var admin = await env.Host.CreateAdminClientAsync();
            var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
            await WaitIdleAsync(admin, id, null);
            return new Replicated(env, agent, admin, id, disks, connectionString);
        }
        catch
        {
            if (agent is not null)
            {
                await agent.DisposeAsync();
            }
            await env.DisposeAsync();
            throw;
        }
    }

    /// <summary>The simulator VM's two source networks mapped to the emulator's two networks; the DVS NIC keeps its MAC.</summary>
    private static object[] Mappings(Replicated r) =>
    [
        new { sourceNetwork = "DC0_DVPG0", osseaNetworkId = r.Env.Emulator.NetworkId, keepMac = true },
        new { sourceNetwork = "VM Network", osseaNetworkId = r.Env.Emulator.SecondNetworkId, keepMac = false },
    ];

    private static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(HttpClient client, string path, object? body)
    {
        using var response = body is null ? await client.PostAsync(path, null) : await client.PostAsJsonAsync(path, body);
        var text = await response.Content.ReadAsStringAsync();
        return (response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone());
    }

    /// <summary>Starts a failover that the API must accept; returns its id.</summary>
    private static async Task<Guid> StartFailoverAsync(Replicated r, string kind = "test", object? body = null)
    {
        var (status, view) = await PostAsync(r.Admin, $"/api/v1/failovers/{kind}",
            body ?? new { replicationId = r.Id, networkMappings = Mappings(r) });
        Assert.That(status, Is.EqualTo(HttpStatusCode.Accepted), view.ToString());
        return view.GetProperty("id").GetGuid();
    }

    private static async Task<JsonElement> GetFailoverAsync(Replicated r, Guid id) =>
        await r.Admin.GetFromJsonAsync<JsonElement>($"/api/v1/failovers/{id}");

    /// <summary>Polls the failover until its status is one of <paramref name="statuses"/> (bounded).</summary>
    private static Task<JsonElement> WaitFailoverAsync(Replicated r, Guid id, params string[] statuses) => WaitFailoverAsync(r.Admin, id, statuses);

    private static async Task<JsonElement> WaitFailoverAsync(HttpClient admin, Guid id, params string[] statuses)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var view = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/failovers/{id}");
            if (statuses.Contains(view.GetProperty("status").GetString()))
            {
                return view;
            }
            if (clock.Elapsed > FailoverTimeout)
            {
                Assert.Fail($"failover {id} did not reach {string.Join("/", statuses)} within {FailoverTimeout}: {view}");
            }
            await Task.Delay(100);
        }
    }

    /// <summary>Sends through <paramref name="host"/>'s mediator, or the replicated VM's own OMA when null.</summary>
    private static async Task<T> SendAsync<T>(Replicated r, IRequest<T> request, OmaTestHost? host = null)
    {
        if (host is null)
        {
            return await r.Env.SendAsync(request);
        }
        await using var scope = host.Services.CreateAsyncScope();
        return await scope.ServiceProvider.GetRequiredService<IMediator>().Send(request);
    }

    private static async Task<List<VolumeView>> VolumesAsync(Replicated r, OmaTestHost? host = null)
    {
        // Through the OMA, not the test database: an upgrade test's OMA runs on its own database.
        var replication = (await SendAsync(r, new GetReplicationQuery(r.Id), host))!;
        var volumes = new List<VolumeView>();
        foreach (var disk in replication.Disks.Where(d => d.OsseaVolumeId is not null).OrderBy(d => int.Parse(d.DiskId, CultureInfo.InvariantCulture)))
        {
            volumes.Add((await SendAsync(r, new GetVolumeByRowIdQuery(disk.OsseaVolumeId!.Value), host))!);
        }
        return volumes;
    }

    /// <summary>Every volume of the replication attached to the OMA (here and in the emulator) and exported.</summary>
    private static async Task AssertBackOnOmaAsync(Replicated r, string context, OmaTestHost? host = null)
    {
        foreach (var volume in await VolumesAsync(r, host))
        {
            var inCloud = r.Env.Emulator.Volume(volume.VolumeId)!;
            Assert.Multiple(() =>
            {
                Assert.That(volume.Mapping?.OperationMode, Is.EqualTo("oma"), $"{context}: volume {volume.VolumeId} mapped to the OMA");
                Assert.That(volume.Export, Is.Not.Null, $"{context}: volume {volume.VolumeId} exported");
                Assert.That(inCloud.VirtualMachineId, Is.EqualTo(r.Env.Emulator.OmaVmId), $"{context}: volume {volume.VolumeId} on the OMA in OSSEA");
                Assert.That(inCloud.Removed, Is.False, $"{context}: volume {volume.VolumeId} still exists");
            });
        }
    }

    /// <summary>No VM of that name in OSSEA (listVirtualMachines through the Volume module) and the recorded one expunged.</summary>
    private static async Task AssertNoVmAsync(Replicated r, JsonElement failover, string context, OmaTestHost? host = null)
    {
        var name = failover.GetProperty("vmName").GetString()!;
        Assert.That(await SendAsync(r, new FindVirtualMachineByNameQuery(r.Env.ConfigId, name), host), Is.Null, $"{context}: no VM '{name}' left");
        if (failover.GetProperty("destinationVmId").GetString() is { } vmId)
        {
            Assert.That(r.Env.Emulator.VirtualMachineState(vmId), Is.EqualTo("Expunged").Or.EqualTo("Expunging"), $"{context}: VM {vmId} expunged");
        }
    }

    private static async Task<string?> HoldReasonAsync(Replicated r) =>
        (await GetReplicationAsync(r.Admin, r.Id)).GetProperty("holdReason").GetString();

    /// <summary>The steps of the newest job of <paramref name="type"/> for the failover, with their status and error.</summary>
    private static async Task<List<(string Name, string Status, string? Error)>> StepsAsync(Replicated r, string type, Guid failoverId)
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<(string, string, string?)>("""
            SELECT s.name, s.status, s.error_message FROM job_steps s
            WHERE s.job_id = (SELECT j.id FROM jobs j WHERE j.job_type = @type AND j.entity_id = @id ORDER BY j.started_at DESC LIMIT 1)
            ORDER BY s.seq
            """, new { type, id = failoverId.ToString() })).AsList();
    }

    private static string Key(int key) => key.ToString(CultureInfo.InvariantCulture);
}
