using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;
using MigrateKit.Modules.Transport.Nbd;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Transport.Nbd;

/// <summary>
/// Our server and client against real NBD peers: nbdinfo, nbdcopy, nbdsh (libnbd), qemu-img,
/// qemu-nbd and nbdkit, all on 127.0.0.1.
/// </summary>
[NonParallelizable] // each test runs real peer processes; side by side on 2 cores their timeouts get flaky
[CancelAfter(60_000)]
[Category(TestKind.Peer)]
public class NbdPeerTests
{
    private static readonly TimeSpan ToolTimeout = TimeSpan.FromSeconds(30);
    private static readonly Dictionary<string, string> NbdshEnvironment = new()
    {
        // nbdsh runs "python3 -m nbd": the Debian python3 has the module, a pyenv one may not.
        ["PATH"] = "/usr/bin:/bin:" + Environment.GetEnvironmentVariable("PATH"),
    };

    private NbdScratch _scratch = null!;
    private NbdExportTable _table = null!;
    private NbdServer _server = null!;
    private int _port;

    [OneTimeSetUp]
    public void StartServer()
    {
        _scratch = new NbdScratch("mk-nbd-peer");
        _table = new NbdExportTable();
        _server = new NbdServer(_table, new NbdServerOptions { EndPoint = new IPEndPoint(IPAddress.Loopback, 0) });
        _server.Start();
        _port = _server.LocalEndPoint!.Port;
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        await _server.DisposeAsync();
        _scratch.Dispose();
    }

    private string Uri(string export) => $"nbd://127.0.0.1:{_port}/{export}";

    /// <summary>Creates a file of <paramref name="size"/> bytes and exports it under a fresh name.</summary>
    private (string Name, string Path) Export(long size, bool readOnly = false, [System.Runtime.CompilerServices.CallerMemberName] string test = "")
    {
        var name = $"{test[..Math.Min(test.Length, 30)]}-{Guid.NewGuid():N}"[..(Math.Min(test.Length, 30) + 9)];
        var path = _scratch.File(name + ".img");
        using (var f = File.Create(path))
        {
            f.SetLength(size);
        }
        _table.Set(new NbdExportDefinition(name, path, readOnly));
        return (name, path);
    }

    private static async Task<ExternalProcess> Run(string tool, params string[] args)
    {
        var process = await ExternalProcess.RunAsync(tool, args, ToolTimeout, NbdshEnvironment);
        return process;
    }

    [Test]
    public async Task NbdinfoListsEveryExportWithItsCapabilities()
    {
        var (a, _) = Export(1024 * 1024);
        var (b, _) = Export(2 * 1024 * 1024, readOnly: true);
        await using var info = await Run("nbdinfo", "--list", $"nbd://127.0.0.1:{_port}");
        Assert.That(info.ExitCode, Is.Zero, info.ToString());
        Assert.Multiple(() =>
        {
            Assert.That(info.StandardOutput, Does.Contain($"export=\"{a}\""));
            Assert.That(info.StandardOutput, Does.Contain($"export=\"{b}\""));
            Assert.That(info.StandardOutput, Does.Contain("base:allocation"));
            Assert.That(info.StandardOutput, Does.Contain("can_multi_conn: true"));
            Assert.That(info.StandardOutput, Does.Contain("is_read_only: true"));
            Assert.That(info.StandardOutput, Does.Contain("block_size_maximum: 33554432"));
        });
    }

    [Test]
    public async Task NbdinfoMapMatchesTheHolesOfASparseFile()
    {
        var (name, path) = Export(16 * 1024 * 1024);
        await using (var f = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            f.Position = 1024 * 1024;
            f.Write(NbdEndToEndTests.RandomBytes(64 * 1024, 1));
            f.Position = 5 * 1024 * 1024;
            f.Write(NbdEndToEndTests.RandomBytes(1024 * 1024, 2));
        }
        await using var map = await Run("nbdinfo", "--map", Uri(name));
        Assert.That(map.ExitCode, Is.Zero, map.ToString());
        // Lines: "offset length type description"
        var data = map.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(p => p[2] == "0")
            .Select(p => (long.Parse(p[0], System.Globalization.CultureInfo.InvariantCulture), long.Parse(p[1], System.Globalization.CultureInfo.InvariantCulture)))
            .ToArray();
        Assert.That(data, Is.EqualTo(new[] { (1024L * 1024, 64L * 1024), (5L * 1024 * 1024, 1024L * 1024) }), map.StandardOutput);
    }

    [Test]
    public async Task NbdcopyIntoOurExportThenQemuImgCompareAndConvert()
    {
        const int size = 48 * 1024 * 1024;
        var (name, _) = Export(size);
        var source = _scratch.File("nbdcopy-source.img");
        var image = NbdEndToEndTests.RandomBytes(size, 7);
        image.AsSpan(8 * 1024 * 1024, 4 * 1024 * 1024).Clear();   // a zero run nbdcopy may send as WRITE_ZEROES
        await File.WriteAllBytesAsync(source, image);

        await using (var copy = await Run("nbdcopy", "--flush", source, Uri(name)))
        {
            Assert.That(copy.ExitCode, Is.Zero, copy.ToString());
        }
        await using (var compare = await Run("qemu-img", "compare", "-f", "raw", "-F", "raw", Uri(name), source))
        {
            Assert.That(compare.ExitCode, Is.Zero, compare.ToString());
        }
        var output = _scratch.File("convert-out.img");
        await using (var convert = await Run("qemu-img", "convert", "-f", "raw", "-O", "raw", Uri(name), output))
        {
            Assert.That(convert.ExitCode, Is.Zero, convert.ToString());
        }
        Assert.That((await File.ReadAllBytesAsync(output)).AsSpan().SequenceEqual(image), Is.True);
    }

    [Test]
    public async Task NbdshOutOfRangeAndBadFlagsGetErrorsAndTheConnectionContinues()
    {
        var (name, _) = Export(1024 * 1024);
        const string script = """
            import nbd
            h.set_strict_mode(0)
            size = h.get_size()
            def attempt(label, f):
                try:
                    f()
                    print(label, "OK")
                except nbd.Error as e:
                    print(label, nbd.Error.__str__(e).split("(")[-1].rstrip(")"))
            attempt("read", lambda: h.pread(4096, size - 512))
            attempt("write", lambda: h.pwrite(b"x" * 4096, size - 512))
            attempt("zero", lambda: h.zero(4096, size - 512))
            attempt("trim", lambda: h.trim(4096, size - 512))
            attempt("status", lambda: h.block_status(4096, size - 512, lambda *a: 0))
            attempt("badflag", lambda: h.pread(512, 0, nbd.CMD_FLAG_FUA))
            attempt("cache", lambda: h.cache(4096, size - 512))
            h.pwrite(b"a" * 512, 0)
            print("after", h.pread(4, 0))
            """;
        await using var sh = await ExternalProcess.RunAsync("nbdsh", ["-u", Uri(name), "-c", script], ToolTimeout, NbdshEnvironment);
        Assert.That(sh.ExitCode, Is.Zero, sh.ToString());
        var lines = sh.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Is.EqualTo(new[]
        {
            "read EINVAL", "write ENOSPC", "zero ENOSPC", "trim EINVAL", "status EINVAL", "badflag EINVAL", "cache EINVAL",
            "after bytearray(b'aaaa')",
        }), sh.ToString());
    }

    [Test]
    public async Task ReadOnlyExportAnswersEpermToWrites()
    {
        var (name, _) = Export(1024 * 1024, readOnly: true);
        const string script = """
            import nbd
            h.set_strict_mode(0)
            for label, f in (("write", lambda: h.pwrite(b"x" * 512, 0)), ("zero", lambda: h.zero(512, 0)), ("trim", lambda: h.trim(512, 0))):
                try:
                    f(); print(label, "OK")
                except nbd.Error as e:
                    print(label, e.errnum)  # 1 = EPERM
            print("read", len(h.pread(512, 0)))
            """;
        await using var sh = await ExternalProcess.RunAsync("nbdsh", ["-u", Uri(name), "-c", script], ToolTimeout, NbdshEnvironment);
        Assert.That(sh.ExitCode, Is.Zero, sh.ToString());
        Assert.That(sh.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries),
            Is.EqualTo(new[] { "write 1", "zero 1", "trim 1", "read 512" }), sh.ToString());
    }

    [Test]
    public async Task MultiConnFlushOnOneConnectionCoversWritesOnAnother()
    {
        // qemu's nbd-multiconn check: write on B, flush on C, read on A.
        var (name, path) = Export(1024 * 1024);
        var script = $$"""
            import nbd
            hs = [nbd.NBD() for _ in range(3)]
            for x in hs:
                x.connect_uri("{{Uri(name)}}")
            print(all(x.can_multi_conn() for x in hs))
            hs[1].pwrite(b"m" * 4096, 8192)
            hs[2].flush()
            print(hs[0].pread(4, 8192))
            """;
        await using var sh = await ExternalProcess.RunAsync("nbdsh", ["-c", script], ToolTimeout, NbdshEnvironment);
        Assert.That(sh.ExitCode, Is.Zero, sh.ToString());
        Assert.That(sh.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[] { "True", "bytearray(b'mmmm')" }));
        Assert.That((await File.ReadAllBytesAsync(path))[8192], Is.EqualTo((byte)'m'));
    }

    [Test]
    public async Task UnknownExportIsRefusedInTheHandshake()
    {
        await using var info = await Run("nbdinfo", Uri("no-such-export"));
        Assert.That(info.ExitCode, Is.Not.Zero, info.ToString());
        var ex = Assert.ThrowsAsync<NbdException>(() => NbdClient.ConnectTcpAsync("127.0.0.1", _port, "no-such-export"));
        Assert.That(ex!.ErrorName, Is.EqualTo("ERR_UNKNOWN"));
    }

    public static IEnumerable<TestCaseData> BadSequences()
    {
        var badMagic = Request(NbdWire.CmdRead, 0, 0, 512);
        badMagic[0] = 0x99;
        yield return new TestCaseData(badMagic, false).SetName("BadInput_request_magic");
        yield return new TestCaseData(Request(NbdWire.CmdWrite, 0, 0, 64 * 1024 * 1024), false).SetName("BadInput_oversize_write");
        yield return new TestCaseData(Request(NbdWire.CmdRead, 0, 0, 512)[..11], true).SetName("BadInput_truncated_header");
        var truncatedWrite = Request(NbdWire.CmdWrite, 0, 0, 4096).Concat(new byte[100]).ToArray();
        yield return new TestCaseData(truncatedWrite, true).SetName("BadInput_truncated_write_payload");
    }

    [TestCaseSource(nameof(BadSequences))]
    public async Task BadInputClosesOnlyThatConnection(byte[] bytes, bool thenHalfClose)
    {
        var (name, _) = Export(1024 * 1024);
        await using var good = await NbdClient.ConnectTcpAsync("127.0.0.1", _port, name);

        using var raw = await RawHandshakeAsync(name);
        await raw.SendAsync(bytes, SocketFlags.None);
        if (thenHalfClose)
        {
            raw.Shutdown(SocketShutdown.Send);
        }
        Assert.That(await ReadUntilClosedAsync(raw, TimeSpan.FromSeconds(10)), Is.True, "the server should drop the bad connection");

        var data = NbdEndToEndTests.RandomBytes(4096, 5);
        await good.WriteAsync(0, data);
        var back = new byte[4096];
        await good.ReadAsync(0, back);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public async Task UnknownClientFlagsAndBadOptionMagicDropTheConnection()
    {
        foreach (var afterGreeting in new[] { new byte[] { 0, 0, 0, 0x43 }, [0, 0, 0, 3, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3, 0, 0, 0, 0] })
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            await socket.ConnectAsync(IPAddress.Loopback, _port);
            await ReceiveExactlyAsync(socket, 18);
            await socket.SendAsync(afterGreeting, SocketFlags.None);
            Assert.That(await ReadUntilClosedAsync(socket, TimeSpan.FromSeconds(10)), Is.True);
        }
        await using var info = await Run("nbdinfo", "--list", $"nbd://127.0.0.1:{_port}");
        Assert.That(info.ExitCode, Is.Zero, info.ToString());
    }

    [Test]
    public async Task UnknownOptionGetsErrUnsupAndNegotiationContinues()
    {
        var (name, _) = Export(4096);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _port);
        await ReceiveExactlyAsync(socket, 18);
        await socket.SendAsync(new byte[] { 0, 0, 0, 3 }, SocketFlags.None);
        await socket.SendAsync(Option(99, [1, 2, 3]), SocketFlags.None);
        var reply = await ReceiveExactlyAsync(socket, 20);
        Assert.That(BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(12)), Is.EqualTo(NbdWire.RepErrUnsup));
        await ReceiveExactlyAsync(socket, (int)BinaryPrimitives.ReadUInt32BigEndian(reply.AsSpan(16)));
        await socket.SendAsync(Option(NbdWire.OptExportName, Encoding.UTF8.GetBytes(name)), SocketFlags.None);
        var export = await ReceiveExactlyAsync(socket, 10);
        Assert.That(BinaryPrimitives.ReadUInt64BigEndian(export), Is.EqualTo(4096));
    }

    [Test]
    public async Task ClientReadsAndWritesNbdkitMemory()
    {
        var port = FreePort.Get();
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "127.0.0.1", "memory", "64M"]);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(10));
        await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "");
        await ExerciseAsync(client, expectHoles: true);
    }

    [Test]
    public async Task ClientFallsBackToSimpleRepliesWithNbdkitNoSr()
    {
        var port = FreePort.Get();
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "--no-sr", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "127.0.0.1", "memory", "16M"]);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(10));
        await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "");
        Assert.Multiple(() =>
        {
            Assert.That(client.StructuredReplies, Is.False);
            Assert.That(client.HasBaseAllocation, Is.False);
        });
        var data = NbdEndToEndTests.RandomBytes(3 * 1024 * 1024, 11);
        await client.WriteAsync(4096, data);
        var back = new byte[data.Length];
        await client.ReadAsync(4096, back);
        Assert.That(back, Is.EqualTo(data));
    }

    [Test]
    public async Task ClientOverAUnixSocketToNbdkit()
    {
        var socketPath = _scratch.File("nbdkit.sock");
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "-U", socketPath, "memory", "16M"]);
        // The socket file appears at bind(), a moment before listen(): retry until nbdkit accepts.
        NbdClient? connected = null;
        for (var i = 0; connected is null; i++)
        {
            try
            {
                connected = await NbdClient.ConnectUnixAsync(socketPath, "");
            }
            catch (SocketException) when (i < 200)
            {
                await Task.Delay(50);
            }
        }
        await using var client = connected;
        await ExerciseAsync(client, expectHoles: true);
    }

    [Test]
    public async Task ClientReadsAndWritesQemuNbd()
    {
        var port = FreePort.Get();
        var path = _scratch.File("qemu.img");
        using (var f = File.Create(path))
        {
            f.SetLength(32 * 1024 * 1024);
        }
        await using var qemu = ExternalProcess.Start("qemu-nbd",
            ["-f", "raw", "-b", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-x", "disk", "-e", "4", "-t", "--discard=unmap", path]);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(10));
        await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "disk");
        await ExerciseAsync(client, expectHoles: true);
        await client.DisconnectAsync();
        var data = await File.ReadAllBytesAsync(path);
        Assert.That(data.AsSpan(1024 * 1024, 4).ToArray(), Is.EqualTo(NbdEndToEndTests.RandomBytes(256 * 1024, 21)[..4]));
    }

    [Test]
    public async Task ClientErrorsCarryTheNbdErrorName()
    {
        var port = FreePort.Get();
        await using var nbdkit = ExternalProcess.Start("nbdkit", ["-f", "-r", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "127.0.0.1", "memory", "1M"]);
        await FreePort.WaitForListenerAsync(port, TimeSpan.FromSeconds(10));
        await using var client = await NbdClient.ConnectTcpAsync("127.0.0.1", port, "");
        Assert.That(client.IsReadOnly, Is.True);
        var ex = Assert.ThrowsAsync<NbdException>(() => client.WriteAsync(0, new byte[512]));
        Assert.That(ex!.ErrorName, Is.EqualTo("EPERM"));
        Assert.That(ex.Message, Does.Contain("WRITE"));
    }

    [Test]
    public async Task FiftyConnectionsWritingDistinctRangesEndByteExact()
    {
        const int connections = 50;
        const int slice = 256 * 1024;
        var (name, path) = Export((long)connections * slice);
        var expected = NbdEndToEndTests.RandomBytes(connections * slice, 50);
        var clients = await Task.WhenAll(Enumerable.Range(0, connections)
            .Select(_ => NbdClient.ConnectTcpAsync("127.0.0.1", _port, name)));
        try
        {
            await Task.WhenAll(clients.Select(async (client, i) =>
            {
                // Four 64 KiB writes per connection, pipelined.
                await Task.WhenAll(Enumerable.Range(0, 4).Select(k =>
                {
                    var at = (i * slice) + (k * slice / 4);
                    return client.WriteAsync(at, expected.AsMemory(at, slice / 4));
                }));
                await client.FlushAsync();
            }));
        }
        finally
        {
            foreach (var client in clients)
            {
                await client.DisposeAsync();
            }
        }
        Assert.That((await File.ReadAllBytesAsync(path)).AsSpan().SequenceEqual(expected), Is.True);
    }

    // ---- helpers

    /// <summary>Write, read back, FUA, zero, trim, flush and block status against any server.</summary>
    private static async Task ExerciseAsync(NbdClient client, bool expectHoles)
    {
        var data = NbdEndToEndTests.RandomBytes(256 * 1024, 21);
        await client.WriteAsync(1024 * 1024, data, fua: client.CanFua);
        var back = new byte[data.Length];
        await client.ReadAsync(1024 * 1024, back);
        Assert.That(back, Is.EqualTo(data));

        await client.WriteZeroesAsync(1024 * 1024 + 65536, 65536);
        await client.TrimAsync(0, 65536);
        await client.FlushAsync();
        await client.ReadAsync(1024 * 1024, back);
        Assert.Multiple(() =>
        {
            Assert.That(back.AsSpan(0, 65536).SequenceEqual(data.AsSpan(0, 65536)), Is.True);
            Assert.That(back.AsSpan(65536, 65536).ContainsAnyExcept((byte)0), Is.False);
            Assert.That(back.AsSpan(131072).SequenceEqual(data.AsSpan(131072)), Is.True);
        });

        if (client.HasBaseAllocation)
        {
            var extents = await client.BlockStatusAsync(0, client.Size);
            Assert.That(extents, Is.Not.Empty);
            Assert.That(extents[0].Offset, Is.Zero);
            var dataExtent = extents.FirstOrDefault(e => e.Offset <= 1024 * 1024 && e.Offset + e.Length > 1024 * 1024);
            Assert.That(dataExtent.IsHole, Is.False, "the written range is data");
            if (expectHoles)
            {
                Assert.That(extents.Any(e => e.IsHole), Is.True);
            }
        }
    }

    private async Task<Socket> RawHandshakeAsync(string export)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _port);
        await ReceiveExactlyAsync(socket, 18);
        await socket.SendAsync(new byte[] { 0, 0, 0, 3 }, SocketFlags.None);   // FIXED_NEWSTYLE | NO_ZEROES
        await socket.SendAsync(Option(NbdWire.OptExportName, Encoding.UTF8.GetBytes(export)), SocketFlags.None);
        await ReceiveExactlyAsync(socket, 10);
        return socket;
    }

    private static byte[] Option(uint option, byte[] data)
    {
        var frame = new byte[16 + data.Length];
        NbdFrameWriter.WriteOption(frame, option, (uint)data.Length);
        data.CopyTo(frame, 16);
        return frame;
    }

    private static byte[] Request(ushort type, ushort flags, ulong offset, uint length)
    {
        var frame = new byte[NbdWire.RequestHeaderLength];
        NbdFrameWriter.WriteRequest(frame, flags, type, 1, offset, length);
        return frame;
    }

    private static async Task<byte[]> ReceiveExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var done = 0;
        while (done < count)
        {
            var n = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None, cts.Token);
            if (n == 0)
            {
                throw new IOException($"closed after {done} of {count} bytes");
            }
            done += n;
        }
        return buffer;
    }

    /// <summary>True when the peer closes (EOF or reset) within the timeout; replies before that are skipped.</summary>
    private static async Task<bool> ReadUntilClosedAsync(Socket socket, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        var buffer = new byte[4096];
        try
        {
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
            return true;
        }
        catch (SocketException)
        {
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }
}
