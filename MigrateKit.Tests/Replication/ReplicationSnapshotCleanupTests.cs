using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using MigrateKit.Tests.Support;
using MigrateKit.Tests.Support.VcSim;
using MigrateKit.Tests.Vma.Support;
using static MigrateKit.Tests.Replication.ReplicationTestKit;

namespace MigrateKit.Tests.Replication;

/// <summary>Cancelling or deleting a job at rest removes the VMware snapshots it left, and only those.</summary>
[NonParallelizable] // one simulator, loop devices and the shared test database
[Category(TestKind.EndToEnd)]
public sealed class ReplicationSnapshotCleanupTests : SimulatedVmTest
{
    private const long ImageSize = 8 * MiB;

    private static async Task<string> SnapshotAsync(VmaTestAgent agent, string vm, string name)
    {
        using var response = await agent.Local.PostAsJsonAsync($"api/v1/vms/{vm}/snapshots", new { name });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Created), body.ToString());
        return body.GetProperty("snapshotId").GetString()!;
    }

    private async Task<IReadOnlyList<string>> SnapshotsAsync() =>
        (await Sim.InventoryAsync(CancellationToken.None)).Single(v => v.Moref == Vm.Ref.Value).Snapshots;

    [Test]
    public async Task Cancel_and_delete_of_a_job_at_rest_remove_its_leftover_snapshots_and_keep_everyone_elses()
    {
        var dir = TestDirectories.Create("repl-snapshots");
        var disks = Vm.Disks.Select((d, i) => (d.DeviceKey, TestImages.Create(dir, $"disk{i}.raw", ImageSize, [(0, MiB)]))).ToArray();
        Sim.WriteChangedAreas(0, disks.Select(d => (Vm.Ref.Value, d.DeviceKey, "*", new[] { (0L, MiB) })).ToArray());
        await using var env = await OmaWithOssea.StartAsync(ConnectionString, FastWorker());
        await using var agent = await VmaTestAgent.StartAsync(env, Sim, "vma-snapshots", disks.Select(d => (Vm.Ref.Value, d.DeviceKey, d.Item2)));
        using var admin = await env.Host.CreateAdminClientAsync();
        var id = await StartReplicationAsync(admin, env.ConfigId, Vm.Ref.Value, agent.Name);
        await WaitIdleAsync(admin, id, null);
        var ours = $"migratekit-{id.ToString("N")[..8]}";

        // A create whose answer was lost: the VM has a snapshot of the job that the job never recorded. And someone else's.
        var lost = await SnapshotAsync(agent, Vm.Ref.Value, ours);
        var foreign = await SnapshotAsync(agent, Vm.Ref.Value, "operator-keep");
        using (var cancel = await admin.PostAsync($"/api/v1/replications/{id}/cancel", null))
        {
            Assert.That(cancel.StatusCode, Is.EqualTo(HttpStatusCode.OK), await cancel.Content.ReadAsStringAsync());
        }
        var afterCancel = await SnapshotsAsync();
        Assert.Multiple(async () =>
        {
            Assert.That(afterCancel, Does.Not.Contain(lost), "the job's leftover is gone");
            Assert.That(afterCancel, Does.Contain(foreign), "someone else's stays");
            Assert.That(await StatusAsync(id), Is.EqualTo("cancelled"));
        });

        // A failed run keeps its recorded snapshot for the next attempt; deleting the job removes it.
        var recorded = await SnapshotAsync(agent, Vm.Ref.Value, ours);
        await ExecuteAsync("UPDATE replication_jobs SET snapshot_id = @recorded WHERE id = @id", new { recorded, id });
        using (var delete = await admin.DeleteAsync($"/api/v1/replications/{id}"))
        {
            Assert.That(delete.StatusCode, Is.EqualTo(HttpStatusCode.NoContent), await delete.Content.ReadAsStringAsync());
        }
        var afterDelete = await SnapshotsAsync();
        Assert.Multiple(() =>
        {
            Assert.That(afterDelete, Does.Not.Contain(recorded));
            Assert.That(afterDelete, Does.Contain(foreign));
        });
        using var cleanup = await agent.Local.DeleteAsync($"api/v1/vms/{Vm.Ref.Value}/snapshots/{foreign}");
        Assert.That(cleanup.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
    }
}
