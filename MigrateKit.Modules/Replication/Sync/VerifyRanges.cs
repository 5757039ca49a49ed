using System.Text.Json;
using MigrateKit.Modules.VmaContracts;
using MigrateKit.Modules.Volume.Contracts;

namespace MigrateKit.Modules.Replication.Sync;

/// <summary>Pure helpers of verification: vm_disks.verify_mismatch_ranges as JSON, and comparing both sides' hashes.</summary>
internal static class VerifyRanges
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>The stored ranges; null or unreadable JSON is none (and a bad range is dropped) so a hand-edited column never blocks syncs.</summary>
    public static IReadOnlyList<VmaByteRange> Parse(string? json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return [];
        }
        try
        {
            return (JsonSerializer.Deserialize<List<VmaByteRange>>(json, Json) ?? [])
                .Where(r => r is not null && r.Offset >= 0 && r.Length > 0 && r.Offset <= long.MaxValue - r.Length).ToList();
        }
        catch (JsonException)
        {
            return [];
        }
    }

    public static string? Serialize(IReadOnlyList<VmaByteRange> ranges) => ranges.Count == 0 ? null : JsonSerializer.Serialize(ranges, Json);

    /// <summary>
    /// The source chunks whose target hash differs (or is missing), merged where they touch. Both
    /// lists describe the same ranges in the same order; anything else is a bug worth failing on.
    /// </summary>
    public static IReadOnlyList<VmaByteRange> Mismatches(IReadOnlyList<VmaRangeHash> source, IReadOnlyList<VolumeRangeHash> target)
    {
        if (source.Count != target.Count)
        {
            throw new InvalidOperationException($"the target hashed {target.Count} ranges for {source.Count} source chunks");
        }
        var result = new List<VmaByteRange>();
        for (var i = 0; i < source.Count; i++)
        {
            var s = source[i];
            var t = target[i];
            if (s.Offset != t.Offset || s.Length != t.Length)
            {
                throw new InvalidOperationException($"range {i}: source {s.Offset}+{s.Length}, target {t.Offset}+{t.Length}");
            }
            if (string.Equals(s.Sha256, t.Sha256, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }
            if (result.Count > 0 && result[^1].Offset + result[^1].Length == s.Offset)
            {
                result[^1] = result[^1] with { Length = result[^1].Length + s.Length };
            }
            else
            {
                result.Add(new VmaByteRange(s.Offset, s.Length));
            }
        }
        return result;
    }

    public static string Describe(IReadOnlyList<VmaByteRange> ranges, int max = 5) =>
        string.Join(", ", ranges.Take(max).Select(r => $"{r.Offset}+{r.Length}")) + (ranges.Count > max ? $" and {ranges.Count - max} more" : "");
}
