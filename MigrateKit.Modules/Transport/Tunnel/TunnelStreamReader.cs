using System.Buffers;
using System.IO.Pipelines;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>
/// A tunnel stream's received bytes as a <see cref="PipeReader"/>: protocol servers on the OMA (the
/// NBD server) parse them in place, without the copy into their own buffer that reading the stream
/// costs. Consumed bytes return stream credit as <see cref="TunnelStream.ReadAsync(Memory{byte}, CancellationToken)"/> does.
/// Completing it does not end the stream; disposing the stream does.
/// </summary>
internal sealed class TunnelStreamReader(TunnelStream stream, PipeReader inner) : PipeReader
{
    private ReadOnlySequence<byte> _last;

    public override async ValueTask<ReadResult> ReadAsync(CancellationToken cancellationToken = default)
    {
        var result = await inner.ReadAsync(cancellationToken).ConfigureAwait(false);
        _last = result.Buffer;
        return result;
    }

    public override bool TryRead(out ReadResult result)
    {
        if (!inner.TryRead(out result))
        {
            return false;
        }
        _last = result.Buffer;
        return true;
    }

    public override void AdvanceTo(SequencePosition consumed) => AdvanceTo(consumed, consumed);

    public override void AdvanceTo(SequencePosition consumed, SequencePosition examined)
    {
        var n = _last.Slice(_last.Start, consumed).Length;
        _last = default;
        inner.AdvanceTo(consumed, examined);
        if (n > 0)
        {
            stream.OnConsumed((int)n);
        }
    }

    public override void CancelPendingRead() => inner.CancelPendingRead();

    public override void Complete(Exception? exception = null)
    {
        // The stream owns the pipe and completes it when disposed.
    }
}
