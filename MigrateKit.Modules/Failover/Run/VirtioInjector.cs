using System.Diagnostics;
using System.Text;

namespace MigrateKit.Modules.Failover.Run;

/// <summary>
/// Puts the VirtIO drivers (virtio-win ISO) into a Windows guest's disk while it is still attached
/// to the OMA, so it boots on KVM: <c>virt-customize -a DEVICE --format raw --inject-virtio-win ISO</c>
/// or <c>virt-v2v-in-place -i disk DEVICE</c> with <c>VIRTIO_WIN=ISO</c>. Both come from libguestfs
/// (Debian: guestfs-tools, virt-v2v), which the OMA does not need otherwise; a missing tool or ISO
/// is a clear error, never a silent skip.
/// </summary>
internal sealed class VirtioInjector(FailoverOptions options)
{
    private const int MaxOutputChars = 4000;

    /// <summary>What is missing for an injection, or null when the tool and the ISO are there.</summary>
    public string? MissingPrerequisites()
    {
        var problems = new List<string>();
        if (FindTool() is null)
        {
            problems.Add($"{Path.GetFileName(options.VirtioTool)} is not installed on the OMA (not found{(Path.IsPathRooted(options.VirtioTool) ? $" at {options.VirtioTool}" : " on PATH")}; Debian package {(Path.GetFileName(options.VirtioTool) == "virt-customize" ? "guestfs-tools" : "virt-v2v")}, or set Failover:VirtioTool)");
        }
        if (!File.Exists(options.VirtioWinIso))
        {
            problems.Add($"the virtio-win ISO {options.VirtioWinIso} does not exist (install virtio-win, or set Failover:VirtioWinIso)");
        }
        return problems.Count == 0 ? null : "VirtIO drivers cannot be injected into this Windows guest: " + string.Join("; ", problems);
    }

    /// <summary>Runs the tool on <paramref name="devicePath"/>; returns its output's tail, throws with it on failure.</summary>
    public async Task<string> InjectAsync(string devicePath, CancellationToken ct)
    {
        if (MissingPrerequisites() is { } missing)
        {
            throw new FailoverException(missing);
        }
        var tool = FindTool()!;
        var psi = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        // The appliance runs without libvirt on the OMA.
        psi.Environment["LIBGUESTFS_BACKEND"] = "direct";
        if (Path.GetFileName(tool) == "virt-customize")
        {
            foreach (var a in new[] { "--format", "raw", "-a", devicePath, "--inject-virtio-win", options.VirtioWinIso })
            {
                psi.ArgumentList.Add(a);
            }
        }
        else
        {
            psi.Environment["VIRTIO_WIN"] = options.VirtioWinIso;
            foreach (var a in new[] { "-i", "disk", "-if", "raw", devicePath })
            {
                psi.ArgumentList.Add(a);
            }
        }
        var output = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new FailoverException($"could not start {tool}: {ex.Message}", ex);
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(options.VirtioTimeout);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None);
            ct.ThrowIfCancellationRequested();
            throw new FailoverException($"{Path.GetFileName(tool)} did not finish within {options.VirtioTimeout} (Failover:VirtioTimeout)");
        }
        var tail = Tail(output);
        if (process.ExitCode != 0)
        {
            throw new FailoverException($"{Path.GetFileName(tool)} failed (exit code {process.ExitCode}): {tail}");
        }
        return tail;
    }

    private string? FindTool()
    {
        if (Path.IsPathRooted(options.VirtioTool))
        {
            return File.Exists(options.VirtioTool) ? options.VirtioTool : null;
        }
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, options.VirtioTool);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }
        return null;
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (output)
        {
            output.AppendLine(line);
            if (output.Length > 4 * MaxOutputChars)
            {
                output.Remove(0, output.Length - MaxOutputChars);
            }
        }
    }

    private static string Tail(StringBuilder output)
    {
        lock (output)
        {
            var text = output.ToString().Trim();
            return text.Length <= MaxOutputChars ? text : "…" + text[^MaxOutputChars..];
        }
    }
}
