using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>
/// Moves WRITE payloads from a TCP socket into the export with splice(2) (socket → kernel pipe →
/// file), so the bytes never cross into user space: one memory copy per byte instead of two.
/// Linux only; any sign that the kernel or the file cannot do it turns it off for the connection.
/// </summary>
internal sealed class NbdSpliceReceiver : IDisposable
{
    private const int PipeSize = 1024 * 1024;
    private const uint SpliceMove = 1;
    private const uint SpliceNonBlock = 2;
    private const int FSetPipeSize = 1031;
    private const int OCloexec = 0x80000;
    private const int EINTR = 4;
    private const int EAGAIN = 11;
    private const int EINVAL = 22;
    private const int ENOSYS = 38;

    private readonly Socket _socket;
    private readonly int _pipeRead;
    private readonly int _pipeWrite;
    private readonly int _pipeSize;
    private byte[]? _discard;

    private NbdSpliceReceiver(Socket socket, int pipeRead, int pipeWrite, int pipeSize)
    {
        _socket = socket;
        _pipeRead = pipeRead;
        _pipeWrite = pipeWrite;
        _pipeSize = pipeSize;
    }

    public bool Enabled { get; private set; } = true;

    public static NbdSpliceReceiver? TryCreate(Socket socket)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }
        var fds = new int[2];
        if (pipe2(fds, OCloexec) != 0)
        {
            return null;
        }
        // A bigger pipe moves a whole 256 KiB-1 MiB request in one pair of calls; the default is 64 KiB.
        var size = fcntl(fds[1], FSetPipeSize, PipeSize);
        return new NbdSpliceReceiver(socket, fds[0], fds[1], size > 0 ? size : 64 * 1024);
    }

    /// <summary>
    /// Moves up to <paramref name="count"/> payload bytes from the socket into the file at
    /// <paramref name="offset"/>. Returns how many bytes were taken from the socket and the error
    /// the file gave, if any (bytes taken but not written are discarded). Zero bytes and no error
    /// means splice is not usable here: the caller falls back to reading the payload itself.
    /// </summary>
    public async ValueTask<(long Consumed, NbdError Error)> ReceiveAsync(NbdBackingFile file, long offset, long count, CancellationToken ct)
    {
        var socketFd = (int)_socket.SafeHandle.DangerousGetHandle();
        var fileFd = (int)file.Handle.DangerousGetHandle();
        long consumed = 0;
        while (consumed < count)
        {
            var want = (nuint)Math.Min(count - consumed, _pipeSize);
            var n = splice(socketFd, IntPtr.Zero, _pipeWrite, IntPtr.Zero, want, SpliceMove | SpliceNonBlock);
            if (n < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                if (errno == EAGAIN)
                {
                    // A zero-byte receive completes when data arrives, without taking any.
                    await _socket.ReceiveAsync(Memory<byte>.Empty, SocketFlags.None, ct).ConfigureAwait(false);
                    continue;
                }
                if (errno == EINTR)
                {
                    continue;
                }
                if (consumed == 0 && errno is EINVAL or ENOSYS)
                {
                    Enabled = false;
                    return (0, NbdError.None);
                }
                throw new IOException($"splice from the socket failed (errno {errno})");
            }
            if (n == 0)
            {
                throw new NbdProtocolException("connection closed in the middle of a WRITE payload");
            }
            var error = DrainToFile(fileFd, offset + consumed, n);
            consumed += n;
            if (error != NbdError.None)
            {
                return (consumed, error);
            }
        }
        return (consumed, NbdError.None);
    }

    private NbdError DrainToFile(int fileFd, long offset, long length)
    {
        var left = length;
        while (left > 0)
        {
            var at = offset + (length - left);
            var w = splice(_pipeRead, IntPtr.Zero, fileFd, ref at, (nuint)left, SpliceMove);
            if (w > 0)
            {
                left -= w;
                continue;
            }
            var errno = w < 0 ? Marshal.GetLastPInvokeError() : 0;
            if (errno == EINTR)
            {
                continue;
            }
            // The file refused: empty the pipe so the next request starts clean, and report.
            Discard(left);
            return w == 0 ? NbdError.EIO : NbdBackingFile.ErrnoToNbd(errno);
        }
        return NbdError.None;
    }

    private void Discard(long length)
    {
        _discard ??= new byte[64 * 1024];
        while (length > 0)
        {
            var n = read(_pipeRead, _discard, (nuint)Math.Min(length, _discard.Length));
            if (n <= 0)
            {
                break;
            }
            length -= n;
        }
    }

    public void Dispose()
    {
        _ = close(_pipeRead);
        _ = close(_pipeWrite);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int pipe2(int[] fds, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);

    [DllImport("libc", SetLastError = true)]
    private static extern nint splice(int fdIn, IntPtr offIn, int fdOut, IntPtr offOut, nuint length, uint flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint splice(int fdIn, IntPtr offIn, int fdOut, ref long offOut, nuint length, uint flags);

    [DllImport("libc", SetLastError = true)]
    private static extern nint read(int fd, byte[] buffer, nuint count);

    [DllImport("libc", SetLastError = true)]
    private static extern int close(int fd);
}
