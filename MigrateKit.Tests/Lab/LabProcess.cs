using System.Diagnostics;
using System.Globalization;
using MigrateKit.Tests.Support;

namespace MigrateKit.Lab;

/// <summary>
/// A long-running peer of the lab (the OMA, the VMA agent, the vCenter simulator). It runs in its own
/// session (setsid, so a Ctrl-C in the terminal reaches only the driver, which stops peers in order),
/// writes stdout and stderr straight into its log file (no pipe to the driver), and its pid is
/// recorded in the lab's pid file so scripts/lab can stop it even if the driver itself died.
/// </summary>
internal sealed class LabProcess : IAsyncDisposable
{
    private static readonly TimeSpan GracefulStop = TimeSpan.FromSeconds(15);

    private readonly Process _process;

    private LabProcess(string name, Process process, string logFile)
    {
        Name = name;
        _process = process;
        LogFile = logFile;
    }

    public string Name { get; }

    public string LogFile { get; }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public static LabProcess Start(string name, string fileName, IEnumerable<string> arguments, string logFile, string pidFile,
        IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        // setsid execs (the driver's children are never group leaders), bash execs the binary with
        // the redirections: the pid we get is the peer's own.
        var info = new ProcessStartInfo("setsid")
        {
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var argument in (string[])["bash", "-c", "exec \"$0\" \"$@\" >>\"$MK_LAB_LOG\" 2>&1 </dev/null", fileName])
        {
            info.ArgumentList.Add(argument);
        }
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }
        info.Environment["MK_LAB_LOG"] = logFile;
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }
        var process = Process.Start(info) ?? throw new LabException($"could not start {name} ({fileName})");
        File.AppendAllText(pidFile, $"{process.Id.ToString(CultureInfo.InvariantCulture)} {Path.GetFullPath(fileName)}\n");
        return new LabProcess(name, process, logFile);
    }

    /// <summary>Throws with the log's tail when the process has already ended (a start-up failure).</summary>
    public void ThrowIfExited()
    {
        if (_process.HasExited)
        {
            throw new LabException($"{Name} exited with code {_process.ExitCode}; last lines of {LogFile}:\n{Tail(LogFile, 20)}");
        }
    }

    /// <summary>SIGTERM, a bounded wait for a clean stop, then SIGKILL of the whole tree.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                await using (await ExternalProcess.RunAsync("kill", ["-TERM", _process.Id.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(5)))
                {
                }
                using var cts = new CancellationTokenSource(GracefulStop);
                try
                {
                    await _process.WaitForExitAsync(cts.Token);
                }
                catch (OperationCanceledException)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
                }
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException or System.ComponentModel.Win32Exception)
        {
            // Already gone, or beyond reach: scripts/lab sweeps the pid file afterwards.
        }
        _process.Dispose();
    }

    public static string Tail(string file, int lines)
    {
        try
        {
            var all = File.ReadAllLines(file);
            return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
        }
        catch (IOException)
        {
            return "(no log)";
        }
    }
}

/// <summary>A lab failure with a message meant for the operator.</summary>
internal sealed class LabException(string message) : Exception(message);
