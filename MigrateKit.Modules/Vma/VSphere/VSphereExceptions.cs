using System.Xml.Linq;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>Any failure talking to vCenter that is not a SOAP fault (transport, HTTP status, malformed XML).</summary>
internal class VSphereException : Exception
{
    public VSphereException(string message, Exception? inner = null) : base(message, inner) { }
}

/// <summary>
/// A vSphere SOAP fault (or a task's error): <see cref="FaultType"/> is the vim25 fault type name
/// (e.g. <c>FileFault</c>, <c>NotAuthenticated</c>, <c>InvalidArgument</c>).
/// </summary>
internal class VSphereFaultException : VSphereException
{
    public VSphereFaultException(string faultType, string faultMessage, XElement? detail = null)
        : base($"vCenter fault {faultType}: {faultMessage}")
    {
        FaultType = faultType;
        FaultMessage = faultMessage;
        Detail = detail;
    }

    public string FaultType { get; }
    public string FaultMessage { get; }
    public XElement? Detail { get; }

    /// <summary>The <c>invalidProperty</c> of an InvalidArgument fault, when vCenter names one.</summary>
    public string? InvalidProperty => Detail?.Elements().FirstOrDefault(e => e.Name.LocalName == "invalidProperty")?.Value;

    public bool IsNotAuthenticated => FaultType == "NotAuthenticated";
}

/// <summary>vCenter refused the user name or password. The message never contains the password.</summary>
internal sealed class VSphereAuthenticationException(string message, Exception? inner = null) : VSphereException(message, inner);

/// <summary>The TLS peer is not the pinned vCenter (thumbprint mismatch) or TLS failed.</summary>
internal sealed class VSphereTlsException(string message, Exception? inner = null) : VSphereException(message, inner);

/// <summary>
/// vCenter rejected the change id given to QueryChangedDiskAreas (FileFault family or
/// InvalidArgument): change tracking was reset, so the disk needs a full copy.
/// </summary>
internal sealed class ChangeIdRejectedException(string changeId, int deviceKey, VSphereFaultException inner)
    : VSphereException($"vCenter rejected change id '{changeId}' for disk {deviceKey} ({inner.FaultType}: {inner.FaultMessage}); a full copy is needed", inner)
{
    public string ChangeId { get; } = changeId;
    public int DeviceKey { get; } = deviceKey;
}

/// <summary>CBT cannot be enabled on this VM; <see cref="Reason"/> says why.</summary>
internal sealed class CbtUnsupportedException(MoRef vm, string reason)
    : VSphereException($"CBT cannot be enabled on {vm}: {reason}")
{
    public string Reason { get; } = reason;
}

/// <summary>A vCenter task did not finish within its time limit.</summary>
internal sealed class VSphereTaskTimeoutException(MoRef task, string operation, TimeSpan timeout)
    : VSphereException($"vCenter task {task} ({operation}) did not finish within {timeout}")
{
    public MoRef Task { get; } = task;
}
