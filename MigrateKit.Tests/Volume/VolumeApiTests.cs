using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Dapper;
using Microsoft.Extensions.DependencyInjection;
using MigrateKit.Modules.Volume.Contracts;
using MigrateKit.Modules.Volume.Exports;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume;

[Category(TestKind.Peer)]
public class VolumeApiTests : DatabaseTest
{
    [Test]
    public async Task Volumes_operations_and_reconcile_are_served_by_the_admin_api()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "api-visible", 1L << 30));
        await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        using var admin = await env.Host.CreateAdminClientAsync();

        var list = await admin.GetFromJsonAsync<JsonElement>("/api/v1/volumes");
        var one = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/volumes/{volume.VolumeId}");
        using var missing = await admin.GetAsync("/api/v1/volumes/no-such-volume");
        var operations = await admin.GetFromJsonAsync<JsonElement>($"/api/v1/volume-operations?volumeId={volume.VolumeId}");
        using var reconcile = await admin.PostAsync("/api/v1/volumes/reconcile", null);
        var report = await reconcile.Content.ReadFromJsonAsync<JsonElement>();
        using var anonymous = await env.Host.Anonymous.GetAsync("/api/v1/volumes");

        Assert.Multiple(() =>
        {
            Assert.That(list.GetArrayLength(), Is.EqualTo(1));
            Assert.That(one.GetProperty("mapping").GetProperty("devicePath").GetString(), Is.EqualTo(env.Emulator.DevicePathOf(volume.VolumeId)));
            Assert.That(missing.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
            Assert.That(operations.EnumerateArray().Select(o => o.GetProperty("type").GetString()), Is.EquivalentTo(new[] { "create", "attach" }));
            Assert.That(reconcile.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(report.GetProperty("volumesChecked").GetInt32(), Is.EqualTo(1));
            Assert.That(report.GetProperty("problems").GetArrayLength(), Is.Zero);
            Assert.That(anonymous.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        });
    }

    [Test]
    [NonParallelizable] // signals this very test process
    public async Task Sighup_reloads_the_nbd_exports_from_the_database_without_a_restart()
    {
        await using var env = await OmaWithOssea.StartAsync(ConnectionString);
        var volume = await env.SendAsync(new CreateVolumeCommand(env.ConfigId, "sighup", 1L << 30));
        var mapping = await env.SendAsync(new AttachVolumeCommand(volume.VolumeId));
        var port = env.Host.Services.GetRequiredService<NbdExportService>().LocalEndPoint!.Port;
        await using (var conn = await OpenAsync())
        {
            // An operator (or a restored backup) changed the table behind the service's back.
            await conn.ExecuteAsync("""
                INSERT INTO nbd_exports (volume_id, export_name, device_path, port, status, created_at, updated_at)
                VALUES (@id, 'added-by-hand', @path, @port, 'active', NOW(), NOW())
                """, new { id = volume.VolumeId, path = mapping.DevicePath, port });
        }
        Assert.That(await ListExportsAsync(port), Does.Not.Contain("added-by-hand"));

        await using (var kill = await ExternalProcess.RunAsync("kill", ["-HUP", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10)))
        {
            Assert.That(kill.ExitCode, Is.Zero);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string exports;
        do
        {
            await Task.Delay(100);
            exports = await ListExportsAsync(port);
        }
        while (!exports.Contains("added-by-hand", StringComparison.Ordinal) && DateTime.UtcNow < deadline);
        Assert.That(exports, Does.Contain("added-by-hand"));
    }

    private static async Task<string> ListExportsAsync(int port)
    {
        await using var process = await ExternalProcess.RunAsync("nbdinfo", ["--list", "--json", $"nbd://127.0.0.1:{port}"], TimeSpan.FromSeconds(30));
        return process.StandardOutput;
    }
}
