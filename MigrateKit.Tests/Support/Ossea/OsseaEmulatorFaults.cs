namespace MigrateKit.Tests.Support.Ossea;

/// <summary>
/// Failures and delays a test injects into the emulator, per command (exact CloudStack names such
/// as <c>createVolume</c>), and counters of what the emulator received.
/// </summary>
public sealed class OsseaEmulatorFaults
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _calls = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<CallFault>> _callFaults = new(StringComparer.Ordinal);
    private readonly Dictionary<string, JobFault> _jobFaults = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TimeSpan> _jobDelays = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _lostAnswers = new(StringComparer.Ordinal);
    private readonly Dictionary<string, TimeSpan> _answerDelays = new(StringComparer.Ordinal);
    private int _rejectedSignatures;
    private int _postRequests;

    /// <summary>Requests for <paramref name="command"/> that passed the signature check (failed ones included).</summary>
    public int CallCount(string command)
    {
        lock (_gate)
        {
            return _calls.GetValueOrDefault(command);
        }
    }

    /// <summary>Requests refused with 401 (bad signature, unknown api key, expired).</summary>
    public int RejectedSignatures
    {
        get
        {
            lock (_gate)
            {
                return _rejectedSignatures;
            }
        }
    }

    /// <summary>Requests that came as a POST form rather than a GET query.</summary>
    public int PostRequests => Volatile.Read(ref _postRequests);

    internal void CountPost() => Interlocked.Increment(ref _postRequests);

    /// <summary>The next <paramref name="times"/> calls of the command are answered with this error.</summary>
    public void FailCalls(string command, int errorCode, int times = 1, string? text = null)
    {
        lock (_gate)
        {
            Faults(command).Add(new CallFault(errorCode, text, Remaining: times, OnCall: null));
        }
    }

    /// <summary>The <paramref name="n"/>-th call of the command (counting every call since the emulator started, from 1) fails.</summary>
    public void FailNthCall(string command, int n, int errorCode, string? text = null)
    {
        lock (_gate)
        {
            Faults(command).Add(new CallFault(errorCode, text, Remaining: 1, OnCall: n));
        }
    }

    /// <summary>Every call of the command fails until <see cref="Clear"/>.</summary>
    public void FailAllCalls(string command, int errorCode, string? text = null)
        => FailCalls(command, errorCode, int.MaxValue, text);

    /// <summary>Async jobs of the command end as failed (jobstatus 2) with this code.</summary>
    public void FailJobs(string command, int errorCode = 530, string? text = null, int times = int.MaxValue)
    {
        lock (_gate)
        {
            _jobFaults[command] = new JobFault(errorCode, text ?? $"Emulated failure of {command}", times);
        }
    }

    /// <summary>Async jobs of the command take this long; <see cref="Timeout.InfiniteTimeSpan"/> never completes.</summary>
    public void DelayJobs(string command, TimeSpan delay)
    {
        lock (_gate)
        {
            _jobDelays[command] = delay;
        }
    }

    /// <summary>
    /// The next <paramref name="times"/> calls of the command are executed, but the connection is
    /// then aborted instead of answering: the client cannot know whether the call happened.
    /// </summary>
    public void LoseAnswers(string command, int times = 1)
    {
        lock (_gate)
        {
            _lostAnswers[command] = times;
        }
    }

    /// <summary>Calls of the command are executed at once, but answered only after <paramref name="delay"/> (client timeouts).</summary>
    public void DelayAnswers(string command, TimeSpan delay)
    {
        lock (_gate)
        {
            _answerDelays[command] = delay;
        }
    }

    public void Clear()
    {
        lock (_gate)
        {
            _answerDelays.Clear();
            _callFaults.Clear();
            _jobFaults.Clear();
            _jobDelays.Clear();
            _lostAnswers.Clear();
        }
    }

    internal void CountRejectedSignature()
    {
        lock (_gate)
        {
            _rejectedSignatures++;
        }
    }

    /// <summary>Counts the call and returns the injected error for it, if any.</summary>
    internal (int Code, string? Text)? OnCall(string command)
    {
        lock (_gate)
        {
            var n = _calls[command] = _calls.GetValueOrDefault(command) + 1;
            if (!_callFaults.TryGetValue(command, out var faults))
            {
                return null;
            }

            for (var i = 0; i < faults.Count; i++)
            {
                var fault = faults[i];
                if (fault.OnCall is { } only && only != n)
                {
                    continue;
                }

                if (fault.Remaining <= 1)
                {
                    faults.RemoveAt(i);
                }
                else if (fault.Remaining != int.MaxValue)
                {
                    faults[i] = fault with { Remaining = fault.Remaining - 1 };
                }

                return (fault.Code, fault.Text);
            }

            return null;
        }
    }

    internal bool TakeLostAnswer(string command)
    {
        lock (_gate)
        {
            if (_lostAnswers.TryGetValue(command, out var left) && left > 0)
            {
                _lostAnswers[command] = left - 1;
                return true;
            }

            return false;
        }
    }

    internal TimeSpan? AnswerDelay(string command)
    {
        lock (_gate)
        {
            return _answerDelays.TryGetValue(command, out var delay) ? delay : null;
        }
    }

    internal TimeSpan? JobDelay(string command)
    {
        lock (_gate)
        {
            return _jobDelays.TryGetValue(command, out var delay) ? delay : null;
        }
    }

    internal (int Code, string Text)? TakeJobFailure(string command)
    {
        lock (_gate)
        {
            if (!_jobFaults.TryGetValue(command, out var fault) || fault.Remaining <= 0)
            {
                return null;
            }

            _jobFaults[command] = fault with { Remaining = fault.Remaining == int.MaxValue ? int.MaxValue : fault.Remaining - 1 };
            return (fault.Code, fault.Text);
        }
    }

    private List<CallFault> Faults(string command)
    {
        if (!_callFaults.TryGetValue(command, out var list))
        {
            _callFaults[command] = list = [];
        }

        return list;
    }

    private sealed record CallFault(int Code, string? Text, int Remaining, int? OnCall);

    private sealed record JobFault(int Code, string Text, int Remaining);
}
