using System.Buffers;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>
/// The file or block device behind an export, opened by one connection. All I/O is positional, so
/// concurrent requests (and other connections on their own handles) never share a file position;
/// fsync on any handle makes every handle's writes to the inode durable, which is what makes
/// CAN_MULTI_CONN safe.
/// </summary>
internal sealed class NbdBackingFile : IDisposable
{
    // Zero source for writes of zeroes where holes cannot be punched; never written to.
    private static readonly byte[] Zeroes = new byte[1024 * 1024];

    private readonly SafeFileHandle _handle;
    private int _canPunchHole = 1;
    private int _canZeroRange = 1;
    private readonly FileAllocationMap _allocation;

    private NbdBackingFile(SafeFileHandle handle, long size, bool readOnly)
    {
        _handle = handle;
        Size = size;
        ReadOnly = readOnly;
        _allocation = new FileAllocationMap(handle, size);
    }

    public long Size { get; }
    public bool ReadOnly { get; }

    public static NbdBackingFile Open(NbdExportDefinition export)
    {
        var handle = File.OpenHandle(export.Path, FileMode.Open,
            export.ReadOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.ReadWrite);
        try
        {
            // lseek(SEEK_END) gives the size of regular files and block devices alike.
            var size = Native.lseek(handle, 0, Native.SeekEnd);
            if (size < 0)
            {
                throw new IOException($"cannot size {export.Path}: errno {Marshal.GetLastPInvokeError()}");
            }
            return new NbdBackingFile(handle, size, export.ReadOnly);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public void Dispose() => _handle.Dispose();

    public int Read(Span<byte> destination, long offset) => RandomAccess.Read(_handle, destination, offset);

    public void Write(ReadOnlySpan<byte> data, long offset) => RandomAccess.Write(_handle, data, offset);

    public void Write(IReadOnlyList<ReadOnlyMemory<byte>> buffers, long offset) => RandomAccess.Write(_handle, buffers, offset);

    public NbdError Flush() => Native.fsync(_handle) == 0 ? NbdError.None : ErrnoToNbd(Marshal.GetLastPInvokeError());

    public NbdError DataSync() => Native.fdatasync(_handle) == 0 ? NbdError.None : ErrnoToNbd(Marshal.GetLastPInvokeError());

    public void Cache(long offset, long length) => _ = Native.posix_fadvise(_handle, offset, length, Native.FadvWillNeed);

    /// <summary>TRIM is a hint: punch a hole where the filesystem can, otherwise do nothing.</summary>
    public NbdError Trim(long offset, long length)
    {
        var result = PunchHole(offset, length);
        return result is NbdError.ENOTSUP ? NbdError.None : result;
    }

    /// <summary>
    /// WRITE_ZEROES: a punched hole unless <paramref name="noHole"/>, then an allocated zero range,
    /// then plain zero writes. With <paramref name="fast"/> the slow path is refused with ENOTSUP.
    /// </summary>
    public NbdError WriteZeroes(long offset, long length, bool noHole, bool fast)
    {
        if (!noHole)
        {
            var punched = PunchHole(offset, length);
            if (punched != NbdError.ENOTSUP)
            {
                return punched;
            }
        }
        var zeroed = ZeroRange(offset, length);
        if (zeroed != NbdError.ENOTSUP)
        {
            return zeroed;
        }
        if (fast)
        {
            return NbdError.ENOTSUP;
        }
        while (length > 0)
        {
            var n = (int)Math.Min(length, Zeroes.Length);
            RandomAccess.Write(_handle, Zeroes.AsSpan(0, n), offset);
            offset += n;
            length -= n;
        }
        return NbdError.None;
    }

    /// <summary>
    /// base:allocation extents for [offset, offset+length) from SEEK_DATA/SEEK_HOLE, at most
    /// <paramref name="maxExtents"/>, never past the request. Without SEEK_DATA support the
    /// range is reported as data (status 0 is always safe).
    /// </summary>
    public void BlockStatus(long offset, long length, int maxExtents, List<(uint Length, uint Flags)> extents)
    {
        var end = offset + length;
        var position = offset;
        while (position < end && extents.Count < maxExtents)
        {
            var (next, hole) = _allocation.NextExtent(position, end);
            // An extent length is a u32; keep big extents 512-aligned.
            var extent = Math.Min(next - position, 0x8000_0000L);
            extents.Add(((uint)extent, hole ? NbdWire.StateHole | NbdWire.StateZero : 0u));
            position += extent;
        }
    }

    private NbdError PunchHole(long offset, long length)
    {
        if (Volatile.Read(ref _canPunchHole) == 0)
        {
            return NbdError.ENOTSUP;
        }
        if (Native.fallocate(_handle, Native.FallocPunchHole | Native.FallocKeepSize, offset, length) == 0)
        {
            return NbdError.None;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (IsUnsupported(errno))
        {
            Volatile.Write(ref _canPunchHole, 0);
            return NbdError.ENOTSUP;
        }
        return ErrnoToNbd(errno);
    }

    private NbdError ZeroRange(long offset, long length)
    {
        if (Volatile.Read(ref _canZeroRange) == 0)
        {
            return NbdError.ENOTSUP;
        }
        if (Native.fallocate(_handle, Native.FallocZeroRange | Native.FallocKeepSize, offset, length) == 0)
        {
            return NbdError.None;
        }
        var errno = Marshal.GetLastPInvokeError();
        if (IsUnsupported(errno))
        {
            Volatile.Write(ref _canZeroRange, 0);
            return NbdError.ENOTSUP;
        }
        return ErrnoToNbd(errno);
    }

    private static bool IsUnsupported(int errno) =>
        errno is Native.EOPNOTSUPP or Native.ENOSYS or Native.ENODEV or Native.EINVAL;

    /// <summary>Maps an OS error to the NBD error a client should see.</summary>
    public static NbdError ErrnoToNbd(int errno) => errno switch
    {
        Native.EPERM or Native.EACCES or Native.EROFS => NbdError.EPERM,
        Native.ENOSPC or Native.EDQUOT or Native.EFBIG => NbdError.ENOSPC,
        Native.ENOMEM => NbdError.ENOMEM,
        Native.EINVAL => NbdError.EINVAL,
        Native.EOPNOTSUPP => NbdError.ENOTSUP,
        _ => NbdError.EIO,
    };

    /// <summary>Maps an exception from .NET file I/O (its HResult carries errno on Unix).</summary>
    public static NbdError ExceptionToNbd(Exception ex) => ex switch
    {
        UnauthorizedAccessException => NbdError.EPERM,
        IOException io when io.HResult is > 0 and < 4096 => ErrnoToNbd(io.HResult),
        IOException io when io.Message.Contains("No space", StringComparison.OrdinalIgnoreCase) => NbdError.ENOSPC,
        _ => NbdError.EIO,
    };

    private static class Native
    {
        public const int SeekEnd = 2;
        public const int FallocKeepSize = 0x01;
        public const int FallocPunchHole = 0x02;
        public const int FallocZeroRange = 0x10;
        public const int FadvWillNeed = 3;

        public const int EPERM = 1;
        public const int ENOMEM = 12;
        public const int EACCES = 13;
        public const int ENODEV = 19;
        public const int EINVAL = 22;
        public const int EFBIG = 27;
        public const int ENOSPC = 28;
        public const int EROFS = 30;
        public const int ENOSYS = 38;
        public const int EOPNOTSUPP = 95;
        public const int EDQUOT = 122;

        [DllImport("libc", SetLastError = true)]
        public static extern long lseek(SafeFileHandle fd, long offset, int whence);

        [DllImport("libc", SetLastError = true)]
        public static extern int fallocate(SafeFileHandle fd, int mode, long offset, long length);

        [DllImport("libc", SetLastError = true)]
        public static extern int fsync(SafeFileHandle fd);

        [DllImport("libc", SetLastError = true)]
        public static extern int fdatasync(SafeFileHandle fd);

        [DllImport("libc")]
        public static extern int posix_fadvise(SafeFileHandle fd, long offset, long length, int advice);
    }
}
