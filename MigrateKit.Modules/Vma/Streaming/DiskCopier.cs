using System.Buffers;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Modules.Vma.Sources;
using MigrateKit.Modules.Vma.VSphere;

namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>
/// Copies the given areas of one disk from a source reader (NBD, or a local image read directly)
/// into a target NBD client (the OMA export, through a tunnel stream): zero ranges — from the
/// source's allocation map (block status), or data that reads as all
/// zeroes — go as WRITE_ZEROES without payload; data goes in chunk-sized reads and writes,
/// <see cref="StreamingOptions.ChunksInFlight"/> at a time with pooled buffers. The target is
/// flushed periodically and at the end; only then does the checkpoint move.
/// A full copy writes only allocated areas: it assumes a zeroed target (a new volume).
/// </summary>
internal sealed class DiskCopier(StreamingOptions options, TimeProvider time)
{
    /// <summary>Plans the copy: areas clipped to [start, end) and split by the source's block status.</summary>
    public static async Task<IReadOnlyList<CopyExtent>> PlanAsync(
        IDiskReader source, IReadOnlyList<DiskExtent> areas, long startOffset, long end, CancellationToken ct)
    {
        var clipped = CopyPlan.Clip(areas, startOffset, end);
        var extents = new List<CopyExtent>();
        foreach (var area in clipped)
        {
            if (!source.HasAllocationMap)
            {
                extents.Add(new CopyExtent(area.Start, area.Length, false));
                continue;
            }
            var at = area.Start;
            while (at < area.End)
            {
                var status = await source.BlockStatusAsync(at, area.End - at, ct).ConfigureAwait(false);
                var piece = new DiskExtent(at, area.End - at);
                var parts = CopyPlan.Intersect(piece, status).ToList();
                // The server may describe less than asked: keep what it described, ask again from there.
                var described = status.Count == 0 ? at : Math.Min(area.End, status.Max(s => s.Offset + s.Length));
                if (described <= at)
                {
                    extents.Add(new CopyExtent(at, area.End - at, false));
                    break;
                }
                extents.AddRange(parts.Where(p => p.Offset < described).Select(p => p.End <= described ? p : p with { Length = described - p.Offset }));
                at = described;
            }
        }
        return CopyPlan.Coalesce(extents);
    }

    /// <summary>
    /// Runs the copy of <paramref name="extents"/> (from <see cref="PlanAsync"/>); progress and the
    /// checkpoint go to <paramref name="progress"/>. Ends with a flush; the checkpoint is then <paramref name="end"/>.
    /// </summary>
    public async Task CopyAsync(IDiskReader source, NbdClient target, IReadOnlyList<CopyExtent> extents, long end,
        DiskProgress progress, TokenBucket? bucket, CancellationToken ct)
    {
        if (target.IsReadOnly)
        {
            throw new IOException($"the target export '{target.ExportName}' is read-only");
        }
        if (extents.Count > 0 && extents[^1].End > target.Size)
        {
            throw new IOException($"the target export '{target.ExportName}' has {target.Size} bytes, the source needs {extents[^1].End}");
        }
        var chunks = CopyPlan.Chunk(extents, options.ChunkBytes);
        var chunksLeft = new int[extents.Count];
        foreach (var c in chunks)
        {
            chunksLeft[c.Extent]++;
        }
        progress.Planned(extents.Sum(e => e.Length), extents.Count);
        var tracker = new CheckpointTracker(chunks, end);
        using var failed = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var window = new SemaphoreSlim(options.ChunksInFlight, options.ChunksInFlight);
        using var flushLock = new SemaphoreSlim(1, 1);
        var flushedAt = time.GetTimestamp();
        long bytesSinceFlush = 0;
        Exception? failure = null;

        async Task RunChunkAsync(int index)
        {
            var chunk = chunks[index];
            try
            {
                await CopyChunkAsync(source, target, chunk, progress, bucket, failed.Token).ConfigureAwait(false);
                tracker.Complete(index);
                if (Interlocked.Decrement(ref chunksLeft[chunk.Extent]) == 0)
                {
                    progress.ExtentDone();
                }
                var pending = Interlocked.Add(ref bytesSinceFlush, chunk.Length);
                if ((pending >= options.CheckpointBytes || time.GetElapsedTime(Volatile.Read(ref flushedAt)) >= options.CheckpointInterval)
                    && await flushLock.WaitAsync(0, CancellationToken.None).ConfigureAwait(false))
                {
                    try
                    {
                        var watermark = tracker.Watermark;
                        Interlocked.Exchange(ref bytesSinceFlush, 0);
                        Volatile.Write(ref flushedAt, time.GetTimestamp());
                        await target.FlushAsync(failed.Token).ConfigureAwait(false);
                        progress.AdvanceCheckpoint(watermark);
                    }
                    finally
                    {
                        flushLock.Release();
                    }
                }
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref failure, e, null);
                await failed.CancelAsync().ConfigureAwait(false);
            }
            finally
            {
                window.Release();
            }
        }

        for (var index = 0; index < chunks.Count; index++)
        {
            try
            {
                await window.WaitAsync(failed.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            _ = RunChunkAsync(index);
        }
        // Wait for every chunk still running: the window is full again when they all finished.
        for (var i = 0; i < options.ChunksInFlight; i++)
        {
            await window.WaitAsync(CancellationToken.None).ConfigureAwait(false);
        }
        if (failure is not null)
        {
            if (failure is OperationCanceledException && ct.IsCancellationRequested)
            {
                ct.ThrowIfCancellationRequested();
            }
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failure).Throw();
        }
        ct.ThrowIfCancellationRequested();
        await target.FlushAsync(ct).ConfigureAwait(false);
        progress.AdvanceCheckpoint(end);
    }

    private async Task CopyChunkAsync(IDiskReader source, NbdClient target, CopyChunk chunk, DiskProgress progress, TokenBucket? bucket, CancellationToken ct)
    {
        if (chunk.Zero)
        {
            await WriteZeroesAsync(target, chunk.Offset, chunk.Length, bucket, ct).ConfigureAwait(false);
            progress.AddZero(chunk.Length);
            return;
        }
        var buffer = ArrayPool<byte>.Shared.Rent(chunk.Length);
        try
        {
            var data = buffer.AsMemory(0, chunk.Length);
            await source.ReadAsync(chunk.Offset, data, ct).ConfigureAwait(false);
            if (!data.Span.ContainsAnyExcept((byte)0))
            {
                // Allocated but zero (e.g. a thick disk's unused space): no payload on the wire.
                await WriteZeroesAsync(target, chunk.Offset, chunk.Length, bucket, ct).ConfigureAwait(false);
                progress.AddZero(chunk.Length);
                return;
            }
            if (bucket is not null)
            {
                await bucket.AcquireAsync(chunk.Length, ct).ConfigureAwait(false);
            }
            await target.WriteAsync(chunk.Offset, data, ct: ct).ConfigureAwait(false);
            progress.AddData(chunk.Length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static async Task WriteZeroesAsync(NbdClient target, long offset, int length, TokenBucket? bucket, CancellationToken ct)
    {
        if (target.CanWriteZeroes)
        {
            await target.WriteZeroesAsync(offset, length, ct: ct).ConfigureAwait(false);
            return;
        }
        // A server without WRITE_ZEROES gets zero-filled writes (they do cost bandwidth).
        var zeroes = ArrayPool<byte>.Shared.Rent(Math.Min(length, 4 * 1024 * 1024));
        try
        {
            Array.Clear(zeroes);
            for (var done = 0; done < length;)
            {
                var n = Math.Min(zeroes.Length, length - done);
                if (bucket is not null)
                {
                    await bucket.AcquireAsync(n, ct).ConfigureAwait(false);
                }
                await target.WriteAsync(offset + done, zeroes.AsMemory(0, n), ct: ct).ConfigureAwait(false);
                done += n;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeroes);
        }
    }
}
