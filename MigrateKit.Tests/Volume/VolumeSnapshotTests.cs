using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Operations;
using MigrateKit.Tests.Support;
using Microsoft.Extensions.DependencyInjection;

namespace MigrateKit.Tests.Volume;

/// <summary>Volume snapshots through MediatR against the OSSEA emulator and the real database.</summary>
[Category(TestKind.Database)]
public class VolumeSnapshotTests : DatabaseTest
{
    private const long OneGiB = 1L << 30;

    [Test]
    public async Task A_failed_snapshot_job_leaves_no_snapshot_behind_in_ossea()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "snap-fault", OneGiB));
        await env.SendAsync(new AttachVolumeCommand(volume.VolumeId)); // OSSEA snapshots only Ready (once attached) volumes
        env.Emulator.Faults.FailJobs("createSnapshot", 530, "Emulated failure of createSnapshot", times: 1);

        var error = Assert.CatchAsync(() => env.SendAsync(new CreateVolumeSnapshotCommand(volume.VolumeId, "failover-x-disk-0")));

        var (client, _) = await env.Host.Services.GetRequiredService<OsseaClients>().GetAsync(env.ConfigId, CancellationToken.None);
        var left = await client.ListSnapshotsAsync(null, volume.VolumeId, null, CancellationToken.None);
        var operations = await env.SendAsync(new ListVolumeOperationsQuery(volume.VolumeId));
        Assert.Multiple(() =>
        {
            Assert.That(error!.Message, Does.Contain("Emulated failure of createSnapshot"));
            Assert.That(left, Is.Empty, "the Error-state snapshot the failed job left was removed");
            Assert.That(operations.Single(o => o.Type == "snapshot").Status, Is.EqualTo("failed"));
        });

        // A retry under the same name then works and yields exactly one snapshot.
        var snapshot = await env.SendAsync(new CreateVolumeSnapshotCommand(volume.VolumeId, "failover-x-disk-0"));
        var now = await client.ListSnapshotsAsync(null, volume.VolumeId, null, CancellationToken.None);
        Assert.That(now.Select(s => s.Id), Is.EqualTo(new[] { snapshot.SnapshotId }));
    }
}
