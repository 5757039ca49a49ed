using System.Buffers;

namespace MigrateKit.Tests.Support;

/// <summary>
/// Builds multi-segment <see cref="ReadOnlySequence{T}"/> values so parsers can be tested on input
/// split at every possible place (Kestrel's byte-per-segment habit).
/// </summary>
public static class SegmentedSequence
{
    /// <summary>One segment per byte.</summary>
    public static ReadOnlySequence<byte> BytePerSegment(ReadOnlySpan<byte> data) => Split(data, 1);

    /// <summary>Segments of <paramref name="segmentSize"/> bytes (the last may be shorter).</summary>
    public static ReadOnlySequence<byte> Split(ReadOnlySpan<byte> data, int segmentSize)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(segmentSize, 1);
        var parts = new List<ReadOnlyMemory<byte>>();
        for (var at = 0; at < data.Length; at += segmentSize)
        {
            parts.Add(data.Slice(at, Math.Min(segmentSize, data.Length - at)).ToArray());
        }
        return Create(parts);
    }

    /// <summary>A sequence made of the given segments, in order (empty segments allowed).</summary>
    public static ReadOnlySequence<byte> Create(IReadOnlyList<ReadOnlyMemory<byte>> segments)
    {
        if (segments.Count == 0)
        {
            return ReadOnlySequence<byte>.Empty;
        }
        var first = new Segment(segments[0], 0);
        var last = first;
        for (var i = 1; i < segments.Count; i++)
        {
            last = last.Append(segments[i]);
        }
        return new ReadOnlySequence<byte>(first, 0, last, last.Memory.Length);
    }

    private sealed class Segment : ReadOnlySequenceSegment<byte>
    {
        public Segment(ReadOnlyMemory<byte> memory, long runningIndex)
        {
            Memory = memory;
            RunningIndex = runningIndex;
        }

        public Segment Append(ReadOnlyMemory<byte> memory)
        {
            var next = new Segment(memory, RunningIndex + Memory.Length);
            Next = next;
            return next;
        }
    }
}
