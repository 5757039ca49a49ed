using System.Text.Json;
using MigrateKit.Modules.Replication.Contracts;
using MigrateKit.Modules.VmaContracts;

namespace MigrateKit.Modules.Replication.Data;

/// <summary>replication_jobs.source_vm_spec: the contract's <see cref="SourceVmSpecView"/> as camelCase JSON.</summary>
internal static class SourceSpecJson
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    public static SourceVmSpecView From(VmaVmSpec spec, DateTime capturedAt) => new(
        spec.GuestId, spec.GuestFullName, spec.Firmware, spec.NumCpu, spec.MemoryMb,
        [.. (spec.Nics ?? []).Select(n => new SourceNicView(n.DeviceKey, n.Label, n.MacAddress, n.NetworkName ?? "", n.NetworkKind))],
        capturedAt);

    public static string Serialize(SourceVmSpecView spec) => JsonSerializer.Serialize(spec, Json);

    /// <summary>Null for a missing or unreadable value (a column written by hand is not worth a 500).</summary>
    public static SourceVmSpecView? Deserialize(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return null;
        }
        try
        {
            return JsonSerializer.Deserialize<SourceVmSpecView>(json, Json);
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
