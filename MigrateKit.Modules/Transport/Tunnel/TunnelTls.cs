using System.Net.Security;

namespace MigrateKit.Modules.Transport.Tunnel;

/// <summary>TLS settings shared by both tunnel ends.</summary>
internal static class TunnelTls
{
    /// <summary>
    /// TLS 1.3 suites, AES-128-GCM first: with AES-NI it is markedly faster than AES-256-GCM for bulk
    /// data, and both are strong. Null where the platform cannot set a policy (Windows): then the
    /// system's TLS 1.3 defaults apply.
    /// </summary>
    public static CipherSuitesPolicy? CipherSuites { get; } = Create();

    private static CipherSuitesPolicy? Create()
    {
        if (OperatingSystem.IsLinux() || OperatingSystem.IsMacOS())
        {
            return new CipherSuitesPolicy([
                TlsCipherSuite.TLS_AES_128_GCM_SHA256,
                TlsCipherSuite.TLS_AES_256_GCM_SHA384,
                TlsCipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            ]);
        }

        return null;
    }
}
