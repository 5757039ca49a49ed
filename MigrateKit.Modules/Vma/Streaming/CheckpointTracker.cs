namespace MigrateKit.Modules.Vma.Streaming;

/// <summary>
/// Chunks finish out of order (they are pipelined); the checkpoint may only move up to the start
/// of the first chunk not yet written, and only after a flush has made the writes before it
/// durable. <see cref="Watermark"/> is that start; the copier flushes, then publishes the watermark
/// it read before the flush as the checkpoint.
/// </summary>
internal sealed class CheckpointTracker
{
    private readonly IReadOnlyList<CopyChunk> _chunks;
    private readonly bool[] _done;
    private readonly long _end;
    private readonly object _sync = new();
    private int _prefix;

    /// <param name="chunks">In offset order.</param>
    /// <param name="end">Where the copied range ends (the watermark once every chunk is written).</param>
    public CheckpointTracker(IReadOnlyList<CopyChunk> chunks, long end)
    {
        _chunks = chunks;
        _done = new bool[chunks.Count];
        _end = end;
    }

    public void Complete(int chunk)
    {
        lock (_sync)
        {
            _done[chunk] = true;
            while (_prefix < _done.Length && _done[_prefix])
            {
                _prefix++;
            }
        }
    }

    /// <summary>Everything below this offset that had to be copied has been written (not yet necessarily flushed).</summary>
    public long Watermark
    {
        get
        {
            lock (_sync)
            {
                return _prefix < _chunks.Count ? _chunks[_prefix].Offset : _end;
            }
        }
    }
}
