using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using MigrateKit.Modules.Transport.Nbd;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// Reads a local raw image or block device directly, without an NBD server in between: positional
/// synchronous reads (the data is usually in the page cache, so a thread-pool hop per read would
/// cost more than the read) and block status from <c>lseek(SEEK_DATA / SEEK_HOLE)</c> (<see cref="FileAllocationMap"/>, as the OMA's NBD server), reported the
/// way nbdkit's file plugin does (a hole is hole + zero, data is 0). Block devices have no
/// allocation map; everything in them is data.
/// </summary>
internal sealed partial class FileDiskReader : IDiskReader
{
    /// <summary>Bounds one answer on a badly fragmented file; the caller asks again from the last extent's end.</summary>
    internal const int MaxExtentsPerCall = 1024;

    private readonly SafeFileHandle _handle;
    private readonly string _path;
    private readonly FileAllocationMap _allocation;

    private FileDiskReader(SafeFileHandle handle, string path, long size, bool isBlockDevice)
    {
        _handle = handle;
        _path = path;
        Size = size;
        IsBlockDevice = isBlockDevice;
        _allocation = new FileAllocationMap(handle, size);
    }

    public long Size { get; }

    public bool IsBlockDevice { get; }

    public bool HasAllocationMap => !IsBlockDevice;

    /// <summary>Opens <paramref name="path"/> read-only; a missing or unreadable file is a <see cref="DiskSourceException"/>.</summary>
    public static FileDiskReader Open(string path)
    {
        SafeFileHandle handle;
        try
        {
            // No FileOptions.Asynchronous: every read is a synchronous pread.
            handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, FileOptions.None);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new DiskSourceException($"source image '{path}' does not exist", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new DiskSourceException($"cannot open source image '{path}': {e.Message}", e);
        }
        try
        {
            // BLKGETSIZE64 answers only for block devices (whose GetLength is 0); files fail with ENOTTY.
            if (Native.ioctl(handle, Native.BlkGetSize64, out var deviceBytes) == 0)
            {
                return new FileDiskReader(handle, path, checked((long)deviceBytes), isBlockDevice: true);
            }
            var length = RandomAccess.GetLength(handle);
            if (length == 0)
            {
                // Character devices (/dev/zero) look like empty files here; neither is a disk.
                throw new DiskSourceException($"source image '{path}' is empty or not a regular file or block device");
            }
            return new FileDiskReader(handle, path, length, isBlockDevice: false);
        }
        catch (Exception e) when (e is IOException or OverflowException)
        {
            handle.Dispose();
            throw new DiskSourceException($"cannot size source image '{path}': {e.Message}", e);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    public Task<IReadOnlyList<NbdExtent>> BlockStatusAsync(long offset, long length, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return Task.FromCanceled<IReadOnlyList<NbdExtent>>(ct);
        }
        try
        {
            return Task.FromResult(BlockStatus(offset, length));
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            return Task.FromException<IReadOnlyList<NbdExtent>>(e);
        }
    }

    /// <summary>The data/hole layout of [offset, offset+length), at most <see cref="MaxExtentsPerCall"/> extents.</summary>
    internal IReadOnlyList<NbdExtent> BlockStatus(long offset, long length)
    {
        CheckRange(offset, length);
        var end = offset + length;
        var extents = new List<NbdExtent>();
        var position = offset;
        if (!HasAllocationMap)
        {
            return [new NbdExtent(offset, length, false, false)];
        }
        while (position < end && extents.Count < MaxExtentsPerCall)
        {
            var (next, hole) = _allocation.NextExtent(position, end);
            extents.Add(new NbdExtent(position, next - position, hole, hole));
            position = next;
        }
        return extents;
    }

    public ValueTask ReadAsync(long offset, Memory<byte> buffer, CancellationToken ct)
    {
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }
        try
        {
            Read(offset, buffer.Span);
            return ValueTask.CompletedTask;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>Fills <paramref name="buffer"/> exactly: short reads loop; past the end is an <see cref="IOException"/>.</summary>
    internal void Read(long offset, Span<byte> buffer)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        if (offset > Size - buffer.Length)
        {
            throw new IOException($"cannot read {buffer.Length} bytes at offset {offset} of '{_path}': past its end ({Size} bytes)");
        }
        for (var done = 0; done < buffer.Length;)
        {
            var n = RandomAccess.Read(_handle, buffer[done..], offset + done);
            if (n == 0)
            {
                throw new IOException($"'{_path}' ended at offset {offset + done} while reading {buffer.Length} bytes at {offset} (it was {Size} bytes when opened; was it truncated?)");
            }
            done += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _handle.Dispose();
        return ValueTask.CompletedTask;
    }

    private void CheckRange(long offset, long length)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (offset > Size - length)
        {
            throw new ArgumentOutOfRangeException(nameof(length), $"range {offset}+{length} is beyond the size of '{_path}' ({Size} bytes)");
        }
    }

    private static partial class Native
    {
        /// <summary>_IOR(0x12, 114, size_t): the same number on x86_64 and arm64 Linux.</summary>
        public const nuint BlkGetSize64 = 0x80081272;

        [LibraryImport("libc", SetLastError = true)]
        public static partial int ioctl(SafeFileHandle fd, nuint request, out ulong size);
    }
}
