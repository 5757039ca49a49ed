using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>A range to copy: data (read and written) or zero (sent as WRITE_ZEROES, no payload).</summary>
internal readonly record struct CopyExtent(long Offset, long Length, bool Zero)
{
    public long End => Offset + Length;
}

/// <summary>One request's worth of a <see cref="CopyExtent"/>; <see cref="Extent"/> is its index in the plan.</summary>
internal readonly record struct CopyChunk(long Offset, int Length, bool Zero, int Extent)
{
    public long End => Offset + Length;
}

/// <summary>
/// Pure planning of what to copy: vCenter's areas clipped to [start offset, end), intersected with
/// the source's NBD block status (zero/hole parts become zero extents), coalesced, then cut into
/// request-sized chunks in offset order (the checkpoint relies on that order).
/// </summary>
internal static class CopyPlan
{
    /// <summary>Zero extents are cut at this size: WRITE_ZEROES lengths are 32-bit and progress stays smooth.</summary>
    internal const int MaxZeroChunk = 1 << 30;

    /// <summary>The parts of the (sorted, non-overlapping) areas inside [from, end).</summary>
    public static IReadOnlyList<DiskExtent> Clip(IReadOnlyList<DiskExtent> areas, long from, long end)
    {
        var result = new List<DiskExtent>(areas.Count);
        foreach (var a in areas)
        {
            var s = Math.Max(a.Start, from);
            var e = Math.Min(a.End, end);
            if (e > s)
            {
                result.Add(new DiskExtent(s, e - s));
            }
        }
        return result;
    }

    /// <summary>
    /// The part of <paramref name="area"/> each block-status extent describes (extents may start
    /// before the area or run past it); what they do not cover stays data. Holes read as zeroes,
    /// and base:allocation sets the zero flag on them, so only <see cref="NbdExtent.IsZero"/> counts.
    /// </summary>
    public static IEnumerable<CopyExtent> Intersect(DiskExtent area, IReadOnlyList<NbdExtent> status)
    {
        var at = area.Start;
        foreach (var x in status.OrderBy(x => x.Offset))
        {
            var s = Math.Max(x.Offset, at);
            var e = Math.Min(x.Offset + x.Length, area.End);
            if (e <= s)
            {
                continue;
            }
            if (s > at)
            {
                yield return new CopyExtent(at, s - at, false);
            }
            yield return new CopyExtent(s, e - s, x.IsZero);
            at = e;
        }
        if (at < area.End)
        {
            yield return new CopyExtent(at, area.End - at, false);
        }
    }

    /// <summary>Sorts and merges touching extents of the same kind.</summary>
    public static IReadOnlyList<CopyExtent> Coalesce(IEnumerable<CopyExtent> extents)
    {
        var merged = new List<CopyExtent>();
        foreach (var x in extents.Where(x => x.Length > 0).OrderBy(x => x.Offset))
        {
            if (merged.Count > 0 && merged[^1].End > x.Offset)
            {
                throw new ArgumentException($"extents overlap at {x.Offset}");
            }
            if (merged.Count > 0 && merged[^1].End == x.Offset && merged[^1].Zero == x.Zero)
            {
                merged[^1] = merged[^1] with { Length = merged[^1].Length + x.Length };
            }
            else
            {
                merged.Add(x);
            }
        }
        return merged;
    }

    /// <summary>Cuts extents into chunks of at most <paramref name="chunkBytes"/> (data) or <see cref="MaxZeroChunk"/> (zero).</summary>
    public static IReadOnlyList<CopyChunk> Chunk(IReadOnlyList<CopyExtent> extents, int chunkBytes)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(chunkBytes, 4096);
        var chunks = new List<CopyChunk>();
        for (var i = 0; i < extents.Count; i++)
        {
            var x = extents[i];
            var max = x.Zero ? MaxZeroChunk : chunkBytes;
            for (var at = x.Offset; at < x.End; at += max)
            {
                chunks.Add(new CopyChunk(at, (int)Math.Min(max, x.End - at), x.Zero, i));
            }
        }
        return chunks;
    }
}
