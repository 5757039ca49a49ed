namespace MigrateKit.Modules.Transport.Nbd;

/// <summary>The peer sent bytes that break the NBD protocol; the connection cannot continue.</summary>
public sealed class NbdProtocolException(string message) : IOException(message);

/// <summary>
/// The NBD peer refused a request or an option. <see cref="ErrorName"/> is the protocol name
/// (for example <c>EINVAL</c> or <c>ERR_UNKNOWN</c>).
/// </summary>
public sealed class NbdException : IOException
{
    public NbdException(string errorName, string message, NbdError error = NbdError.None)
        : base($"{errorName}: {message}")
    {
        ErrorName = errorName;
        Error = error;
    }

    /// <summary>The protocol's name for the error, e.g. <c>EPERM</c>, <c>ERR_UNKNOWN</c>.</summary>
    public string ErrorName { get; }

    /// <summary>The transmission-phase error value, or <see cref="NbdError.None"/> for option errors.</summary>
    public NbdError Error { get; }

    internal static NbdException FromError(uint value, string command, string? serverMessage)
    {
        // The spec says unknown error values are to be treated as EINVAL.
        var error = Enum.IsDefined((NbdError)value) && value != 0 ? (NbdError)value : NbdError.EINVAL;
        var text = string.IsNullOrEmpty(serverMessage) ? $"{command} failed" : $"{command} failed: {serverMessage}";
        return new NbdException(error.ToString(), text, error);
    }
}
