using Dapper;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Schema;

/// <summary>The field names operators, scripts and dashboards know (SEED_FACTS.md) exist exactly.</summary>
[Category(TestKind.Database)]
public class SeedColumnTests : DatabaseTest
{
    private static readonly Dictionary<string, string[]> SeedColumns = new()
    {
        ["ossea_configs"] = ["id", "name", "api_url", "api_key", "secret_key", "domain", "zone", "template_id", "network_id",
            "service_offering_id", "disk_offering_id", "oma_vm_id", "created_at", "updated_at", "is_active"],
        ["replication_jobs"] = ["id", "source_vm_id", "source_vm_name", "source_vm_path", "vcenter_host", "datacenter",
            "replication_type", "target_network", "status", "progress_percent", "current_operation", "bytes_transferred",
            "total_bytes", "transfer_speed_bps", "error_message", "change_id", "previous_change_id", "snapshot_id", "nbd_port",
            "nbd_export_name", "target_device", "ossea_config_id", "created_at", "updated_at", "started_at", "completed_at"],
        ["vm_disks"] = ["id", "job_id", "disk_id", "vmdk_path", "size_gb", "datastore", "unit_number", "label", "capacity_bytes",
            "provisioning_type", "ossea_volume_id", "disk_change_id", "sync_status", "sync_progress_percent", "bytes_synced",
            "created_at", "updated_at"],
        // linstor_snapshot_name is deliberately gone (V0016): snapshots live in failover_snapshots.
        ["failover_jobs"] = ["id", "replication_job_id", "vm_id", "job_type", "status", "destination_vm_id", "network_mappings",
            "error_message", "created_at", "updated_at", "started_at", "completed_at"],
        ["cloudstack_job_tracking"] = ["id", "cloudstack_job_id", "cloudstack_command", "cloudstack_status", "operation_type",
            "correlation_id", "parent_job_id", "status", "created_at", "updated_at"],
        ["cbt_history"] = ["id", "job_id", "vm_disk_id", "disk_id", "change_id", "previous_change_id", "created_at"],
        ["ossea_volumes"] = ["id", "volume_id", "volume_name", "size", "status", "device_path"],
        ["volume_operations"] = ["id", "type", "status", "volume_id", "vm_id", "request", "response", "error", "created_at",
            "updated_at", "completed_at"],
        ["device_mappings"] = ["id", "volume_id", "vm_id", "device_path", "cloudstack_state", "linux_state", "size", "last_sync",
            "created_at", "updated_at", "operation_mode"],
        ["nbd_exports"] = ["id", "volume_id", "export_name", "device_path", "port", "status", "metadata", "created_at", "updated_at"],
    };

    public static IEnumerable<string> Tables => SeedColumns.Keys;

    [TestCaseSource(nameof(Tables))]
    public async Task Seed_columns_exist_with_their_exact_names(string table)
    {
        await using var conn = await OpenAsync();
        var columns = (await conn.QueryAsync<string>(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = @table",
            new { table })).ToHashSet(StringComparer.Ordinal);
        Assert.That(SeedColumns[table].Where(c => !columns.Contains(c)), Is.Empty, $"columns missing from {table}");
    }

    [Test]
    public async Task The_volume_uuid_has_one_name_in_every_table()
    {
        await using var conn = await OpenAsync();
        var legacy = await conn.QueryAsync<string>(
            "SELECT CONCAT(table_name, '.', column_name) FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'volume_uuid'");
        var carriers = (await conn.QueryAsync<string>(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = DATABASE() AND column_name = 'volume_id'")).ToList();
        Assert.Multiple(() =>
        {
            Assert.That(legacy, Is.Empty);
            Assert.That(carriers, Is.SupersetOf(new[] { "ossea_volumes", "device_mappings", "nbd_exports", "volume_operations" }));
        });
    }

    [Test]
    public async Task Device_mappings_operation_mode_is_oma_or_failover()
    {
        await using var conn = await OpenAsync();
        var type = await conn.ExecuteScalarAsync<string>(
            "SELECT column_type FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'device_mappings' AND column_name = 'operation_mode'");
        Assert.That(type, Is.EqualTo("enum('oma','failover')"));
    }
}
