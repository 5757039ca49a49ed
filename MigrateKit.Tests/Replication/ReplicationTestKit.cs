using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Tests.Support;
using MySqlConnector;

namespace MigrateKit.Tests.Replication;

/// <summary>Helpers the replication tests share: REST calls, bounded waits, target comparison.</summary>
internal static class ReplicationTestKit
{
    public const long MiB = 1024 * 1024;
    public static readonly TimeSpan SyncTimeout = TimeSpan.FromSeconds(90);

    public static Dictionary<string, string?> FastWorker(params (string Key, string Value)[] more)
    {
        var values = new Dictionary<string, string?>
        {
            ["Replication:ScanInterval"] = "00:00:00.200",
            ["Replication:PollInterval"] = "00:00:00.200",
            ["Replication:AgentRetryDelay"] = "00:00:00.200",
        };
        foreach (var (k, v) in more)
        {
            values[k] = v;
        }
        return values;
    }

    public static async Task<MySqlConnection> OpenAsync()
    {
        var conn = new MySqlConnection(TestDatabase.ConnectionString);
        await conn.OpenAsync();
        return conn;
    }

    public static async Task<T> QueryAsync<T>(string sql, object args)
    {
        await using var conn = await OpenAsync();
        return await conn.QuerySingleAsync<T>(sql, args);
    }

    public static async Task ExecuteAsync(string sql, object args)
    {
        await using var conn = await OpenAsync();
        await conn.ExecuteAsync(sql, args);
    }

    public static async Task<JsonElement> GetReplicationAsync(HttpClient admin, Guid id) =>
        await admin.GetFromJsonAsync<JsonElement>($"/api/v1/replications/{id}");

    public static async Task<Guid> StartReplicationAsync(HttpClient admin, int configId, string vmMoref, string agent, long? bandwidth = null,
        bool verify = false)
    {
        using var response = await admin.PostAsJsonAsync("/api/v1/replications",
            new { vmMoref, agent, osseaConfigId = configId, bandwidthLimitBps = bandwidth, verifyAfterSync = verify });
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Accepted), body.ToString());
        return body.GetProperty("id").GetGuid();
    }

    /// <summary>Waits until the job is idle with a sync completed after <paramref name="after"/> (bounded); fails fast on 'failed'.</summary>
    public static async Task<JsonElement> WaitIdleAsync(HttpClient admin, Guid id, DateTime? after)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var job = await GetReplicationAsync(admin, id);
            var status = job.GetProperty("status").GetString();
            var last = LastSync(job);
            if (status == "idle" && last is not null && (after is null || last > after))
            {
                return job;
            }
            if (status == "failed")
            {
                Assert.Fail($"replication failed: {job.GetProperty("errorMessage")}");
            }
            if (clock.Elapsed > SyncTimeout)
            {
                Assert.Fail($"replication did not become idle within {SyncTimeout}: {job}");
            }
            await Task.Delay(200);
        }
    }

    public static DateTime? LastSync(JsonElement job) =>
        job.GetProperty("lastSyncCompletedAt").ValueKind == JsonValueKind.Null ? null : job.GetProperty("lastSyncCompletedAt").GetDateTime();

    /// <summary>Polls <paramref name="condition"/> (bounded); fails with <paramref name="what"/>.</summary>
    public static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > timeout)
            {
                Assert.Fail($"timed out after {timeout}: {what}");
            }
            await Task.Delay(100);
        }
    }

    public static Task<string> StatusAsync(Guid id) => QueryAsync<string>("SELECT status FROM replication_jobs WHERE id = @id", new { id });

    public static Task<long> SyncRunsAsync(Guid id) => QueryAsync<long>(
        "SELECT COUNT(*) FROM jobs WHERE job_type = 'replication.sync' AND entity_id = @id", new { id = id.ToString() });

    /// <summary>Device key → volume row id of the job's disks.</summary>
    public static async Task<Dictionary<int, long>> VolumeRowsAsync(Guid id)
    {
        await using var conn = await OpenAsync();
        return (await conn.QueryAsync<(string DiskId, long RowId)>(
                "SELECT disk_id, ossea_volume_id FROM vm_disks WHERE job_id = @id AND ossea_volume_id IS NOT NULL", new { id }))
            .ToDictionary(r => int.Parse(r.DiskId, CultureInfo.InvariantCulture), r => r.RowId);
    }

    public static async Task<string> DevicePathAsync(OmaWithOssea env, long volumeRowId) =>
        (await env.SendAsync(new GetVolumeByRowIdQuery(volumeRowId)))!.Mapping!.DevicePath!;

    /// <summary>qemu-img compare of a source image with the first <paramref name="size"/> bytes of its target device.</summary>
    public static async Task AssertSameAsync(string image, string device, long size)
    {
        await using var run = await ExternalProcess.RunAsync("qemu-img",
        [
            "compare", "--image-opts",
            $"driver=raw,file.driver=file,file.filename={image}",
            $"driver=raw,size={size},file.driver=host_device,file.filename={device}",
        ], TimeSpan.FromSeconds(60));
        Assert.That(run.ExitCode, Is.Zero, $"qemu-img compare {image} {device}: {run.StandardOutput}{run.StandardError}");
    }

    public static async Task AssertTargetsAsync(OmaWithOssea env, Guid id, IEnumerable<(int Key, string Image)> disks, long size)
    {
        var rows = await VolumeRowsAsync(id);
        foreach (var (key, image) in disks)
        {
            await AssertSameAsync(image, await DevicePathAsync(env, rows[key]), size);
        }
    }
}
