using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>
/// The data/hole layout of an open file from <c>lseek(SEEK_DATA / SEEK_HOLE)</c>, shared by the NBD
/// server's backing files and the VMA's image reader. Block devices report everything as data. Where
/// the file system cannot seek for data, everything is data from then on, which is always safe.
/// </summary>
public sealed class FileAllocationMap(SafeFileHandle handle, long size)
{
    private const int SeekData = 3;
    private const int SeekHole = 4;
    private const int ENXIO = 6;

    private int _canSeekData = 1;

    /// <summary>
    /// The extent that starts at <paramref name="position"/> (which must be below <paramref name="end"/>
    /// and <c>end</c> at most the file size): where it ends, clipped to <paramref name="end"/>, and
    /// whether it is a hole (reads as zeroes, nothing allocated). Always ends after <paramref name="position"/>.
    /// </summary>
    public (long End, bool IsHole) NextExtent(long position, long end)
    {
        if (Volatile.Read(ref _canSeekData) != 0)
        {
            var data = lseek(handle, position, SeekData);
            if (data < 0)
            {
                if (Marshal.GetLastPInvokeError() != ENXIO)
                {
                    Volatile.Write(ref _canSeekData, 0);
                    return (end, false);
                }
                data = size; // no data at or after position: a hole to the end of the file
            }
            if (data > position)
            {
                return (Math.Min(data, end), true);
            }
            var hole = lseek(handle, position, SeekHole);
            if (hole > position)
            {
                return (Math.Min(hole, end), false);
            }
        }
        return (end, false);
    }

    [DllImport("libc", SetLastError = true)]
    private static extern long lseek(SafeFileHandle fd, long offset, int whence);
}
