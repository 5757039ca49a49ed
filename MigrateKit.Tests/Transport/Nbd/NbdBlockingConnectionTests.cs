using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>
/// TCP connections of <see cref="NbdServer"/> run on their own thread with blocking socket calls
/// (<see cref="BlockingSocketStream"/>, <see cref="NbdDirectReceiver"/>); these tests drive that path
/// with a hand-made client on a real loopback socket.
/// </summary>
[NonParallelizable] // each test starts a server thread per connection; side by side on 2 cores the timing checks get flaky
[CancelAfter(30_000)]
[Category(TestKind.Unit)]
public class NbdBlockingConnectionTests
{
    private const long ExportSize = 4 * 1024 * 1024;

    [Test]
    public async Task RequestsPipelinedBehindGoAndSplitAnywhereAreAllServed(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-blocking");
        var image = CreateImage(scratch);
        await using var server = StartServer(image);
        using var socket = await ConnectAsync(server, ct);

        // GO and three WRITEs, a FLUSH and a READ sent at once, before the GO reply: the bytes the
        // handshake's reader already holds must reach the transmission loop.
        var first = Pattern(70_000, 1);
        var second = Pattern(300, 2);
        var third = Pattern(200_000, 3);
        var script = Concat(
            [0, 0, 0, 3], // client flags: FIXED_NEWSTYLE | NO_ZEROES
            Option(NbdWire.OptGo, GoData("disk")),
            Request(NbdWire.CmdWrite, 0, 11, 0, first), Request(NbdWire.CmdWrite, NbdWire.CmdFlagFua, 12, 100_000, second),
            Request(NbdWire.CmdWrite, 0, 13, 1_000_000, third), Header(NbdWire.CmdFlush, 0, 14, 0, 0),
            Header(NbdWire.CmdRead, 0, 15, 100_000, 300), Header(NbdWire.CmdDisc, 0, 16, 0, 0));
        await ReceiveExactlyAsync(socket, 18, ct); // greeting
        // Odd-sized sends with pauses so the server's receives end inside headers and payloads.
        var random = new Random(5);
        for (var at = 0; at < script.Length;)
        {
            var n = Math.Min(script.Length - at, random.Next(1, 90_000));
            await socket.SendAsync(script.AsMemory(at, n), SocketFlags.None, ct);
            at += n;
            await Task.Delay(2, ct);
        }

        await ReadGoRepliesAsync(socket, ct);
        var replies = new Dictionary<ulong, (uint Error, byte[] Data)>();
        while (replies.Count < 5)
        {
            var header = await ReceiveExactlyAsync(socket, NbdWire.SimpleReplyLength, ct);
            Assert.That(BinaryPrimitives.ReadUInt32BigEndian(header), Is.EqualTo(NbdWire.SimpleReplyMagic));
            var cookie = BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8));
            var data = cookie == 15 ? await ReceiveExactlyAsync(socket, 300, ct) : [];
            replies.Add(cookie, (BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)), data));
        }
        Assert.That(replies.Keys.Order(), Is.EqualTo(new ulong[] { 11, 12, 13, 14, 15 }));
        Assert.That(replies.Values.Select(r => r.Error), Is.All.Zero);
        Assert.That(replies[15].Data, Is.EqualTo(second), "a READ after a WRITE sees it");
        Assert.That(await ReceiveAsync(socket, new byte[1], ct), Is.Zero, "DISC closes the connection");

        var disk = await File.ReadAllBytesAsync(image, ct);
        Assert.Multiple(() =>
        {
            Assert.That(disk.AsSpan(0, first.Length).SequenceEqual(first), Is.True);
            Assert.That(disk.AsSpan(100_000, second.Length).SequenceEqual(second), Is.True);
            Assert.That(disk.AsSpan(1_000_000, third.Length).SequenceEqual(third), Is.True);
        });
    }

    [Test]
    public async Task WriteErrorsAreRepliedInBetweenBatchedOks(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-blocking");
        var image = CreateImage(scratch);
        await using var server = StartServer(image);
        using var socket = await ConnectAsync(server, ct);
        await ReceiveExactlyAsync(socket, 18, ct);
        await socket.SendAsync(Concat([0, 0, 0, 3], Option(NbdWire.OptGo, GoData("disk"))), SocketFlags.None, ct);
        await ReadGoRepliesAsync(socket, ct);

        // OK, beyond the end (ENOSPC, payload still consumed), bad flag (EINVAL), OK.
        var data = Pattern(4096, 7);
        await socket.SendAsync(Concat(
            Request(NbdWire.CmdWrite, 0, 1, 0, data),
            Request(NbdWire.CmdWrite, 0, 2, ExportSize - 1024, data),
            Request(NbdWire.CmdWrite, 0x80, 3, 8192, data),
            Request(NbdWire.CmdWrite, 0, 4, 16384, data)), SocketFlags.None, ct);
        var errors = new Dictionary<ulong, uint>();
        while (errors.Count < 4)
        {
            var header = await ReceiveExactlyAsync(socket, NbdWire.SimpleReplyLength, ct);
            errors.Add(BinaryPrimitives.ReadUInt64BigEndian(header.AsSpan(8)), BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)));
        }
        Assert.That(errors, Is.EqualTo(new Dictionary<ulong, uint>
        {
            [1] = 0, [2] = (uint)NbdError.ENOSPC, [3] = (uint)NbdError.EINVAL, [4] = 0,
        }));
        var disk = await File.ReadAllBytesAsync(image, ct);
        Assert.That(disk.AsSpan(16384, 4096).SequenceEqual(data), Is.True);
        Assert.That(disk.AsSpan(8192, 4096).ContainsAnyExcept((byte)0), Is.False, "the refused WRITE wrote nothing");
    }

    [Test]
    public async Task DisposingTheServerWakesIdleConnectionThreads(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-blocking");
        var image = CreateImage(scratch);
        var server = StartServer(image);
        try
        {
            await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", server.LocalEndPoint!.Port, "disk", ct: ct);
            using var handshaking = await ConnectAsync(server, ct); // stays in the handshake
            await ReceiveExactlyAsync(handshaking, 18, ct);
            await client.WriteAsync(0, Pattern(4096, 1), ct: ct);
            var dispose = server.DisposeAsync().AsTask();
            Assert.That(await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(10), ct)), Is.SameAs(dispose),
                "blocked receives must be woken when the server stops");
            await dispose;
            Assert.That(await ReceiveAsync(handshaking, new byte[64], ct), Is.Zero, "the handshaking connection was closed");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Test]
    public async Task ASilentClientIsDroppedAfterTheHandshakeTimeout(CancellationToken ct)
    {
        using var scratch = new NbdScratch("mk-nbd-blocking");
        var image = CreateImage(scratch);
        await using var server = StartServer(image, TimeSpan.FromMilliseconds(300));
        using var socket = await ConnectAsync(server, ct);
        await ReceiveExactlyAsync(socket, 18, ct);
        var started = Environment.TickCount64;
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        Assert.That(await ReceiveAsync(socket, new byte[16], limit.Token), Is.Zero, "the server hangs up");
        Assert.That(Environment.TickCount64 - started, Is.LessThan(8000));

        // The server is still there for others.
        await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", server.LocalEndPoint!.Port, "disk", ct: ct);
        Assert.That(client.Size, Is.EqualTo(ExportSize));
    }

    // ---- helpers

    private static string CreateImage(NbdScratch scratch)
    {
        var image = scratch.File("disk.img");
        using var f = File.Create(image);
        f.SetLength(ExportSize);
        return image;
    }

    private static NbdServer StartServer(string image, TimeSpan? handshakeTimeout = null)
    {
        var server = new NbdServer(new NbdExportTable([new NbdExportDefinition("disk", image, false)]), new NbdServerOptions
        {
            EndPoint = new IPEndPoint(IPAddress.Loopback, 0),
            HandshakeTimeout = handshakeTimeout ?? TimeSpan.FromSeconds(30),
        });
        server.Start();
        return server;
    }

    private static async Task<Socket> ConnectAsync(NbdServer server, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(server.LocalEndPoint!, ct);
        return socket;
    }

    /// <summary>Reads option replies up to GO's ACK (structured replies were not asked for).</summary>
    private static async Task ReadGoRepliesAsync(Socket socket, CancellationToken ct)
    {
        while (true)
        {
            var header = await ReceiveExactlyAsync(socket, NbdWire.OptionReplyHeaderLength, ct);
            var type = BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
            var length = BinaryPrimitives.ReadInt32BigEndian(header.AsSpan(16));
            await ReceiveExactlyAsync(socket, length, ct);
            if (type == NbdWire.RepAck)
            {
                return;
            }
            Assert.That(type, Is.EqualTo(NbdWire.RepInfo), "GO must succeed");
        }
    }

    private static byte[] GoData(string export)
    {
        var name = Encoding.UTF8.GetBytes(export);
        var data = new byte[4 + name.Length + 2];
        BinaryPrimitives.WriteUInt32BigEndian(data, (uint)name.Length);
        name.CopyTo(data, 4);
        return data;
    }

    private static byte[] Option(uint option, byte[] data)
    {
        var frame = new byte[16 + data.Length];
        NbdFrameWriter.WriteOption(frame, option, (uint)data.Length);
        data.CopyTo(frame, 16);
        return frame;
    }

    private static byte[] Header(ushort type, ushort flags, ulong cookie, ulong offset, uint length)
    {
        var frame = new byte[NbdWire.RequestHeaderLength];
        NbdFrameWriter.WriteRequest(frame, flags, type, cookie, offset, length);
        return frame;
    }

    private static byte[] Request(ushort type, ushort flags, ulong cookie, long offset, byte[] payload) =>
        Concat(Header(type, flags, cookie, (ulong)offset, (uint)payload.Length), payload);

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();

    private static async Task<int> ReceiveAsync(Socket socket, byte[] buffer, CancellationToken ct)
    {
        try
        {
            return await socket.ReceiveAsync(buffer, SocketFlags.None, ct);
        }
        catch (SocketException)
        {
            return 0; // reset counts as closed
        }
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count, CancellationToken ct)
    {
        var buffer = new byte[count];
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
        limit.CancelAfter(TimeSpan.FromSeconds(10));
        var done = 0;
        while (done < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None, limit.Token);
            if (n == 0)
            {
                throw new IOException($"closed after {done} of {count} bytes");
            }
            done += n;
        }
        return buffer;
    }
}
