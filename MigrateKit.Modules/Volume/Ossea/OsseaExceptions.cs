namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>Base of every failure the OSSEA client reports. Messages never contain credentials or signed URLs.</summary>
internal abstract class OsseaException : Exception
{
    protected OsseaException(string command, string message, Exception? inner)
        : base(message, inner)
    {
        Command = command;
    }

    /// <summary>The CloudStack API command, e.g. <c>attachVolume</c>.</summary>
    public string Command { get; }
}

/// <summary>
/// The OSSEA API (or the network in front of it) refused or failed a call, or an async job ended
/// as failed.
/// </summary>
internal sealed class OsseaApiException : OsseaException
{
    public OsseaApiException(
        string command,
        int code,
        int? csErrorCode,
        string text,
        bool isTransient,
        string? jobId = null,
        bool outcomeUnknown = false,
        Exception? inner = null)
        : base(command, Describe(command, code, csErrorCode, text, jobId), inner)
    {
        Code = code;
        CsErrorCode = csErrorCode;
        Text = text;
        IsTransient = isTransient;
        JobId = jobId;
        OutcomeUnknown = outcomeUnknown;
    }

    /// <summary>CloudStack <c>errorcode</c> (= HTTP status), or 0 when no response arrived.</summary>
    public int Code { get; }

    /// <summary>CloudStack <c>cserrorcode</c> (the Java exception class), when the server sent one.</summary>
    public int? CsErrorCode { get; }

    /// <summary>CloudStack <c>errortext</c>, or our description of a transport failure.</summary>
    public string Text { get; }

    /// <summary>True when sending the same request again is safe and may succeed (see <see cref="OsseaErrorCodes.IsTransient"/>).</summary>
    public bool IsTransient { get; }

    /// <summary>The async job id, when the failure is a failed job.</summary>
    public string? JobId { get; }

    /// <summary>
    /// True when a state-changing request may or may not have been executed (the response was
    /// lost or timed out). The caller must look at OSSEA's state before trying again.
    /// </summary>
    public bool OutcomeUnknown { get; }

    private static string Describe(string command, int code, int? csErrorCode, string text, string? jobId)
    {
        var where = jobId is null ? command : $"{command} (job {jobId})";
        var cs = csErrorCode is { } c ? $", cserrorcode {c}" : string.Empty;
        return code == OsseaErrorCodes.NoResponse
            ? $"OSSEA {where} failed without a response: {text}"
            : $"OSSEA {where} failed with error {code} ({OsseaErrorCodes.Name(code)}{cs}): {text}";
    }
}

/// <summary>
/// An async job (or an entity the client waited on) did not settle before the client's deadline.
/// The job may still complete on OSSEA.
/// </summary>
internal sealed class OsseaJobTimeoutException : OsseaException
{
    public OsseaJobTimeoutException(string command, string? jobId, string? entityId, TimeSpan waited)
        : base(command, $"OSSEA {command} {(jobId is null ? $"on {entityId}" : $"job {jobId}")} did not finish within {waited.TotalSeconds:0.###} s.", null)
    {
        JobId = jobId;
        EntityId = entityId;
        Waited = waited;
    }

    /// <summary>The job id, or null when the client waited on an entity's state (after a lost answer).</summary>
    public string? JobId { get; }

    public string? EntityId { get; }

    public TimeSpan Waited { get; }
}
