using Microsoft.Extensions.Time.Testing;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma;
using MigrateKit.Modules.Vma.Agent;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.Streaming;
using MigrateKit.Modules.Vma.VSphere;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Vma.Streaming;

/// <summary>Pure parts of the streaming engine: planning, chunking, checkpoints, the token bucket, validation.</summary>
[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public sealed class CopyPlanTests
{
    private const long MiB = 1024 * 1024;

    [Test]
    public void Clip_keeps_only_what_lies_between_the_resume_offset_and_the_end()
    {
        var areas = new[] { new DiskExtent(0, 4 * MiB), new DiskExtent(8 * MiB, 4 * MiB), new DiskExtent(20 * MiB, 4 * MiB) };
        var clipped = CopyPlan.Clip(areas, 2 * MiB, 22 * MiB);
        Assert.That(clipped, Is.EqualTo(new[] { new DiskExtent(2 * MiB, 2 * MiB), new DiskExtent(8 * MiB, 4 * MiB), new DiskExtent(20 * MiB, 2 * MiB) }));
    }

    [Test]
    public void Block_status_splits_an_area_into_data_and_zero_parts_and_uncovered_parts_stay_data()
    {
        var area = new DiskExtent(MiB, 6 * MiB);
        NbdExtent[] status =
        [
            new(0, 2 * MiB, false, false),            // starts before the area
            new(2 * MiB, 2 * MiB, true, true),        // hole
            new(4 * MiB, MiB, false, true),           // allocated zeroes
        ];                                            // 5..7 MiB not described
        var parts = CopyPlan.Intersect(area, status).ToList();
        Assert.That(parts, Is.EqualTo(new[]
        {
            new CopyExtent(MiB, MiB, false),
            new CopyExtent(2 * MiB, 2 * MiB, true),
            new CopyExtent(4 * MiB, MiB, true),
            new CopyExtent(5 * MiB, 2 * MiB, false),
        }));
        Assert.That(CopyPlan.Coalesce(parts), Has.Count.EqualTo(3), "the two zero parts touch and merge");
    }

    [Test]
    public void Chunks_are_in_offset_order_and_never_larger_than_asked()
    {
        var extents = CopyPlan.Coalesce([new CopyExtent(0, 10 * MiB + 4096, false), new CopyExtent(10 * MiB + 4096, 3L << 30, true)]);
        var chunks = CopyPlan.Chunk(extents, 4 * (int)MiB);
        Assert.Multiple(() =>
        {
            Assert.That(chunks.Where(c => !c.Zero).Select(c => c.Length), Is.EqualTo(new[] { 4 * MiB, 4 * MiB, 2 * MiB + 4096 }));
            Assert.That(chunks.Where(c => c.Zero).Select(c => (long)c.Length), Is.EqualTo(new[] { 1L << 30, 1L << 30, 1L << 30 }));
            Assert.That(chunks.Select(c => c.Offset), Is.Ordered);
            Assert.That(chunks.Sum(c => (long)c.Length), Is.EqualTo(extents.Sum(e => e.Length)));
        });
    }

    [Test]
    public void Overlapping_extents_are_a_bug_not_silently_merged()
    {
        Assert.Throws<ArgumentException>(() => CopyPlan.Coalesce([new CopyExtent(0, 2 * MiB, false), new CopyExtent(MiB, MiB, false)]));
    }

    [Test]
    public void The_checkpoint_watermark_waits_for_the_first_unfinished_chunk()
    {
        var chunks = CopyPlan.Chunk([new CopyExtent(MiB, 3 * MiB, false), new CopyExtent(10 * MiB, MiB, false)], (int)MiB);
        var tracker = new CheckpointTracker(chunks, 16 * MiB);
        Assert.That(tracker.Watermark, Is.EqualTo(MiB));
        tracker.Complete(1);
        tracker.Complete(3);
        Assert.That(tracker.Watermark, Is.EqualTo(MiB), "chunk 0 still runs");
        tracker.Complete(0);
        Assert.That(tracker.Watermark, Is.EqualTo(3 * MiB));
        tracker.Complete(2);
        Assert.That(tracker.Watermark, Is.EqualTo(16 * MiB), "all done: the end of the copied range");
    }

    [Test]
    public void The_token_bucket_allows_a_quarter_second_burst_then_paces_at_the_rate()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(4 * MiB, time);
        Assert.That(bucket.Take(MiB), Is.EqualTo(TimeSpan.Zero), "the burst");
        Assert.That(bucket.Take(4 * MiB).TotalSeconds, Is.EqualTo(1.0).Within(0.001));
        time.Advance(TimeSpan.FromSeconds(1));
        Assert.That(bucket.Take(2 * MiB).TotalSeconds, Is.EqualTo(0.5).Within(0.001));
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.That(bucket.Take(MiB), Is.EqualTo(TimeSpan.Zero), "refilled, but never beyond the burst");
        Assert.That(bucket.Take(MiB).TotalSeconds, Is.EqualTo(0.25).Within(0.001));
    }

    [Test]
    public void Progress_checkpoints_only_move_forward()
    {
        var progress = new DiskProgress(new VmaSyncDisk(2000, "e", "*", 5 * MiB), new FakeTimeProvider());
        Assert.That(progress.Checkpoint, Is.EqualTo(5 * MiB), "a resumed disk starts at its resume offset");
        progress.AdvanceCheckpoint(8 * MiB);
        progress.AdvanceCheckpoint(6 * MiB);
        Assert.That(progress.Checkpoint, Is.EqualTo(8 * MiB));
    }

    [Test]
    public void A_start_request_with_bad_fields_names_every_one()
    {
        var errors = SyncManager.Validate(new VmaSyncRequest("job 1", "", "vm:1", [
            new VmaSyncDisk(0, "", "", -1),
            new VmaSyncDisk(2000, "a", "*", 0),
            new VmaSyncDisk(2000, "a", "*", 0),
        ], -5));
        Assert.That(errors.Keys, Is.EquivalentTo(new[]
        {
            "jobId", "vm", "snapshotId", "bandwidthLimitBytesPerSecond",
            "disks[0].deviceKey", "disks[0].exportName", "disks[0].changeId", "disks[0].startOffset", "disks",
        }));
        Assert.That(errors["disks"], Has.Length.EqualTo(2), "duplicate device key and duplicate export");
        Assert.That(SyncManager.Validate(new VmaSyncRequest("j-1", "vm-42", "snapshot-7", [new VmaSyncDisk(2000, "e", "*", 0)], null)), Is.Empty);
        Assert.That(SyncManager.Validate(null).Keys, Is.EqualTo(new[] { "body" }));
    }

    [TestCase("nbd://127.0.0.1:10810/disk0", "127.0.0.1", 10810, null, "disk0")]
    [TestCase("nbd://oma/", "oma", 10809, null, "")]
    [TestCase("nbd+unix:///exp?socket=/tmp/s.sock", null, 0, "/tmp/s.sock", "exp")]
    public void Nbd_uris_parse(string text, string? host, int port, string? socket, string export)
    {
        Assert.That(MappedDiskSourceFactory.TryParseNbdUri(text, out var uri), Is.True);
        Assert.That(uri, Is.EqualTo(new MappedDiskSourceFactory.NbdUri(host, port, socket, export)));
    }

    [TestCase("nbd+unix:///exp")]
    [TestCase("http://x/y")]
    [TestCase("/var/images/disk.raw")]
    public void Other_sources_are_not_nbd_uris(string text) => Assert.That(MappedDiskSourceFactory.TryParseNbdUri(text, out _), Is.False);

    [TestCase("vm-42", true)]
    [TestCase("VirtualMachine:vm-42", true)]
    [TestCase("/DC0/vm/web01", false)]
    [TestCase("vm-", false)]
    public void Morefs_are_told_from_inventory_paths(string text, bool isMoref) =>
        Assert.That(VCenter.TryParseMoref(text, out _), Is.EqualTo(isMoref));

    [Test]
    public void Vddk_arguments_pass_the_password_as_a_file_never_inline()
    {
        var passwordFile = Path.Combine(Path.GetTempPath(), "mk-never-read-pw");
        var factory = new VddkDiskSourceFactory(new VmaOptions { VddkLibDir = "/opt/vddk" }, new VSphereOptions
        {
            Address = "vcenter.example:443",
            User = "svc@vsphere.local",
            PasswordFile = passwordFile,
            Thumbprint = string.Join(':', Enumerable.Repeat("AB", 20)),
        });
        var args = factory.BuildArguments(new DiskSourceRequest(MoRef.Vm("vm-16"), "web01", new MoRef("VirtualMachineSnapshot", "snapshot-9"), 2000,
            "[ds1] web01/web01.vmdk"));
        Assert.That(args, Is.EqualTo(new[]
        {
            "vddk", "libdir=/opt/vddk", "server=vcenter.example", "user=svc@vsphere.local", "password=+" + passwordFile,
            "thumbprint=" + string.Join(':', Enumerable.Repeat("AB", 20)), "vm=moref=vm-16", "snapshot=snapshot-9",
            "transports=file:nbdssl:nbd", "[ds1] web01/web01.vmdk",
        }));
    }

    [Test]
    public void Vddk_gets_the_port_when_vcenter_is_not_on_443()
    {
        var factory = new VddkDiskSourceFactory(new VmaOptions(), new VSphereOptions
        {
            Address = "https://vc.lab:8443/sdk",
            User = "u",
            PasswordFile = "/run/pw",
            Thumbprint = string.Join(':', Enumerable.Repeat("01", 20)),
        });
        var args = factory.BuildArguments(new DiskSourceRequest(MoRef.Vm("vm-1"), "x", new MoRef("VirtualMachineSnapshot", "snapshot-1"), 2000, "[ds] x.vmdk"));
        Assert.That(args, Does.Contain("server=vc.lab").And.Contain("port=8443").And.Not.Contain("libdir="));
    }
}
