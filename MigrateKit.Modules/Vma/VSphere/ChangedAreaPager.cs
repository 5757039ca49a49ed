namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>
/// Walks QueryChangedDiskAreas pages over a disk: says which startOffset to ask next, checks each
/// answer, and merges the areas. Pure, so the paging rules are tested without vCenter.
/// Rules: stop when the capacity is covered (never ask at offset == capacity: vCenter rejects it);
/// an answer of length 0 ends the walk (govmomi's helper answers that at the end); an answer must
/// move forward, or the walk would loop.
/// </summary>
internal sealed class ChangedAreaPager(long capacity)
{
    // A disk of 62 TiB in 2000-area pages of 64 KiB blocks needs ~500k pages; far beyond is a bug.
    private const int MaxPages = 1_000_000;

    private readonly List<DiskExtent> _areas = [];
    private long _offset;
    private bool _done = capacity == 0;
    private int _pages;

    public long? NextOffset => _done ? null : _offset;

    public int Pages => _pages;

    public void Add(DiskChangeInfo page)
    {
        if (_done)
        {
            throw new InvalidOperationException("the disk is already covered");
        }
        if (++_pages > MaxPages)
        {
            throw new VSphereException($"QueryChangedDiskAreas needed more than {MaxPages} pages; giving up");
        }
        foreach (var a in page.ChangedAreas)
        {
            if (a.Length == 0)
            {
                continue;
            }
            if (a.Start < 0 || a.End > capacity || a.End < a.Start)
            {
                throw new VSphereException($"QueryChangedDiskAreas returned area {a.Start}+{a.Length} outside the disk (capacity {capacity})");
            }
            _areas.Add(a);
        }
        var covered = page.StartOffset + page.Length;
        var lastArea = page.ChangedAreas.Count > 0 ? page.ChangedAreas.Max(a => a.End) : 0;
        var next = Math.Max(covered, lastArea);
        if (page.Length <= 0 && page.ChangedAreas.Count == 0)
        {
            _done = true; // nothing more to report
            return;
        }
        if (next <= _offset)
        {
            throw new VSphereException($"QueryChangedDiskAreas did not advance past offset {_offset}");
        }
        _offset = next;
        _done = _offset >= capacity;
    }

    public ChangedAreas Result() => new(Merge(_areas), _pages, capacity);

    /// <summary>Sorts and coalesces overlapping or touching extents.</summary>
    internal static IReadOnlyList<DiskExtent> Merge(IEnumerable<DiskExtent> extents)
    {
        var sorted = extents.Where(e => e.Length > 0).OrderBy(e => e.Start).ToList();
        var merged = new List<DiskExtent>(sorted.Count);
        foreach (var e in sorted)
        {
            if (merged.Count > 0 && e.Start <= merged[^1].End)
            {
                var last = merged[^1];
                merged[^1] = new DiskExtent(last.Start, Math.Max(last.End, e.End) - last.Start);
            }
            else
            {
                merged.Add(e);
            }
        }
        return merged;
    }
}
