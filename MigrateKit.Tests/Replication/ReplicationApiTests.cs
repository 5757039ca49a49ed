using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Agents.Contracts;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Replication;

[Category(TestKind.Database)]
public class ReplicationApiTests : DatabaseTest
{
    // These tests look at the API alone: no worker may pick up their jobs (their agents do not exist).
    private static readonly Dictionary<string, string?> NoWorker = new() { ["Replication:Worker"] = "false" };

    private static async Task EnrollAgentRowAsync(string name)
    {
        // The agent's certificate is not needed to register a job; its enrolled row is.
        await using var conn = await OpenAsync();
        await conn.ExecuteAsync("""
            INSERT INTO vma_agents (name, cert_fingerprint, cert_serial, cert_not_after, enrolled_at, created_at, updated_at)
            VALUES (@name, SHA2(@name, 256), @name, '2030-01-01', NOW(), NOW(), NOW())
            """, new { name });
    }

    private static object Body(int configId, string vm = "vm-42", string agent = "vma-1") =>
        new { vmMoref = vm, agent, osseaConfigId = configId, scheduleIntervalSeconds = 3600 };

    [Test]
    public async Task An_invalid_request_gets_400_with_each_bad_field()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, NoWorker);
        using var admin = await env.Host.CreateAdminClientAsync();
        using var shape = await admin.PostAsJsonAsync("/api/v1/replications", new { vmPath = "no-slash", osseaConfigId = 0, bandwidthLimitBps = 5, scheduleIntervalSeconds = 1 });
        using var references = await admin.PostAsJsonAsync("/api/v1/replications", Body(env.ConfigId + 100, agent: "ghost"));
        Assert.Multiple(async () =>
        {
            Assert.That(shape.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((await shape.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "VmPath", "Agent", "OsseaConfigId", "ScheduleIntervalSeconds", "BandwidthLimitBps" }));
            Assert.That(references.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
            Assert.That((await references.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("errors").EnumerateObject().Select(p => p.Name),
                Is.EquivalentTo(new[] { "Agent", "OsseaConfigId" }));
        });
    }

    [Test]
    public async Task A_job_is_accepted_once_per_vm_and_listed()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, NoWorker);
        await EnrollAgentRowAsync("vma-1");
        using var admin = await env.Host.CreateAdminClientAsync();
        using var first = await admin.PostAsJsonAsync("/api/v1/replications", Body(env.ConfigId));
        using var second = await admin.PostAsJsonAsync("/api/v1/replications", Body(env.ConfigId));
        using var other = await admin.PostAsJsonAsync("/api/v1/replications", Body(env.ConfigId, vm: "vm-43"));
        var created = await first.Content.ReadFromJsonAsync<JsonElement>();
        var list = await admin.GetFromJsonAsync<JsonElement>("/api/v1/replications");
        Assert.Multiple(() =>
        {
            Assert.That(first.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(first.Headers.Location!.ToString(), Is.EqualTo($"/api/v1/replications/{created.GetProperty("id").GetString()}"));
            Assert.That(created.GetProperty("status").GetString(), Is.EqualTo("pending"));
            Assert.That(created.GetProperty("agent").GetString(), Is.EqualTo("vma-1"));
            Assert.That(second.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(other.StatusCode, Is.EqualTo(HttpStatusCode.Accepted));
            Assert.That(list.GetArrayLength(), Is.EqualTo(2));
        });
    }

    [Test]
    public async Task Delete_refuses_while_a_volume_is_on_another_vm_and_otherwise_leaves_nothing_behind()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, NoWorker);
        await EnrollAgentRowAsync("vma-1");
        using var admin = await env.Host.CreateAdminClientAsync();
        using var accepted = await admin.PostAsJsonAsync("/api/v1/replications", Body(env.ConfigId));
        var jobId = (await accepted.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;

        // What the replication worker does on a first run: a volume per disk, attached to the OMA.
        var disk0 = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm42-disk-0", 1L << 30));
        var disk1 = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "vm42-disk-1", 1L << 30));
        await env.SendAsync(new AttachVolumeCommand(disk0.VolumeId));
        await using (var conn = await OpenAsync())
        {
            foreach (var (disk, volume) in new[] { ("2000", disk0), ("2001", disk1) })
            {
                await conn.ExecuteAsync("""
                    INSERT INTO vm_disks (job_id, disk_id, vmdk_path, size_gb, capacity_bytes, ossea_volume_id, created_at, updated_at)
                    VALUES (@jobId, @disk, '[ds] vm/vm.vmdk', 1, 1073741824, @volume, NOW(), NOW())
                    """, new { jobId, disk, volume = volume.Id });
            }
        }
        // A test failover left disk1 on another VM.
        var (client, config) = await env.Host.Services.GetRequiredService<OsseaClients>().GetAsync(env.ConfigId, CancellationToken.None);
        var testVm = await client.DeployVirtualMachineAsync(new OsseaDeployVirtualMachine
        {
            Name = "test-vm42", ServiceOfferingId = env.Emulator.ServiceOfferingId, TemplateId = env.Emulator.TemplateId, ZoneId = config.Zone,
            NetworkIds = [env.Emulator.NetworkId], StartVm = false,
        }, new OsseaOperation("test"), null, CancellationToken.None);
        await env.SendAsync(new AttachVolumeCommand(disk1.VolumeId, testVm.Id));

        using var refused = await admin.DeleteAsync($"/api/v1/replications/{jobId}");
        var refusal = await refused.Content.ReadAsStringAsync();
        Assert.Multiple(() =>
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Conflict));
            Assert.That(refusal, Does.Contain(disk1.VolumeId));
            Assert.That(env.Emulator.Volume(disk0.VolumeId)!.Removed, Is.False, "nothing was deleted");
        });

        await env.SendAsync(new DetachVolumeCommand(disk1.VolumeId));
        using var deleted = await admin.DeleteAsync($"/api/v1/replications/{jobId}");
        await using var check = await OpenAsync();
        Assert.Multiple(async () =>
        {
            Assert.That(deleted.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            Assert.That(await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM replication_jobs"), Is.Zero);
            Assert.That(await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM vm_disks"), Is.Zero);
            Assert.That(await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM ossea_volumes"), Is.Zero);
            Assert.That(await check.ExecuteScalarAsync<long>("SELECT COUNT(*) FROM device_mappings"), Is.Zero);
            Assert.That(env.Emulator.Volumes().Where(v => v.Type == "DATADISK" && !v.Removed), Is.Empty);
            Assert.That(env.Emulator.ExposedDevices, Is.Empty);
        });
    }
}
