using System.Diagnostics;
using System.Text;

namespace MigrateKit.Modules.Vma.Sources;

/// <summary>
/// One nbdkit serving one disk read-only on a Unix socket in a private (0700) temp directory:
/// <c>nbdkit --exit-with-parent --readonly --foreground --unix=SOCK --pidfile=PID PLUGIN ARGS…</c>.
/// Ready when the pidfile appears (nbdkit writes it once it accepts connections). Arguments go
/// through ArgumentList (no shell); secrets are passed as <c>password=+FILE</c>, never inline.
/// </summary>
internal sealed class NbdkitProcess : IAsyncDisposable
{
    private const int MaxStderrChars = 8192;

    private readonly Process _process;
    private readonly StringBuilder _stderr;
    private readonly string _directory;

    private NbdkitProcess(Process process, StringBuilder stderr, string directory, string socketPath)
    {
        _process = process;
        _stderr = stderr;
        _directory = directory;
        SocketPath = socketPath;
    }

    public string SocketPath { get; }

    public string Stderr
    {
        get
        {
            lock (_stderr)
            {
                return _stderr.ToString();
            }
        }
    }

    public static async Task<NbdkitProcess> StartAsync(string nbdkit, IReadOnlyList<string> pluginAndArgs, TimeSpan timeout, CancellationToken ct)
    {
        var directory = Directory.CreateTempSubdirectory("mk-nbdkit-").FullName;
        var socket = Path.Combine(directory, "nbd.sock");
        var pidfile = Path.Combine(directory, "nbdkit.pid");
        var psi = new ProcessStartInfo(nbdkit)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "--exit-with-parent", "--readonly", "--foreground", "--unix", socket, "--pidfile", pidfile })
        {
            psi.ArgumentList.Add(a);
        }
        foreach (var a in pluginAndArgs)
        {
            psi.ArgumentList.Add(a);
        }

        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new DiskSourceException($"could not start {nbdkit}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Directory.Delete(directory, recursive: true);
            throw new DiskSourceException($"could not start {nbdkit}: {e.Message} (is nbdkit installed?)", e);
        }
        var stderr = new StringBuilder();
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }
            lock (stderr)
            {
                if (stderr.Length < MaxStderrChars)
                {
                    stderr.AppendLine(e.Data);
                }
            }
        };
        process.OutputDataReceived += (_, _) => { };
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        var instance = new NbdkitProcess(process, stderr, directory, socket);
        try
        {
            using var limit = CancellationTokenSource.CreateLinkedTokenSource(ct);
            limit.CancelAfter(timeout);
            while (!(File.Exists(pidfile) && File.Exists(socket)))
            {
                if (process.HasExited)
                {
                    await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
                    throw new DiskSourceException($"nbdkit exited with code {process.ExitCode} before serving: {instance.Stderr.Trim()}");
                }
                try
                {
                    await Task.Delay(20, limit.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                {
                    throw new DiskSourceException($"nbdkit did not start serving within {timeout.TotalSeconds:0} s: {instance.Stderr.Trim()}");
                }
            }
            return instance;
        }
        catch
        {
            await instance.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await _process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or it will go with us (--exit-with-parent).
        }
        _process.Dispose();
        try
        {
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
            // A stale socket directory in /tmp is harmless.
        }
    }
}
