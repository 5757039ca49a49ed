using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Xml;
using System.Xml.Linq;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>
/// One vim25 SOAP exchange over HTTPS: pins vCenter's certificate by SHA1 thumbprint, carries the
/// <c>vmware_soap_session</c> cookie, bounds response size and turns SOAP faults into
/// <see cref="VSphereFaultException"/>.
/// </summary>
internal sealed class VimSoapTransport : IDisposable
{
    public const string SessionCookieName = "vmware_soap_session";

    private readonly HttpClient _http;
    private readonly Uri _sdk;
    private readonly byte[] _pinned;
    private readonly int _maxResponseBytes;
    private string? _lastSeenThumbprint;

    public VimSoapTransport(VSphereOptions options, HttpMessageHandler? handler = null)
    {
        _sdk = options.SdkUri();
        _pinned = VSphereOptions.ParseThumbprint(options.Thumbprint);
        _maxResponseBytes = options.MaxResponseBytes;
        handler ??= new SocketsHttpHandler
        {
            UseCookies = false, // the session cookie is handled explicitly, per session
            AllowAutoRedirect = false,
            AutomaticDecompression = DecompressionMethods.GZip,
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(1),
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => cert is not null && Pinned(cert.GetRawCertData()),
            },
        };
        _http = new HttpClient(handler) { Timeout = options.RequestTimeout };
    }

    public Uri Sdk => _sdk;

    private bool Pinned(byte[] der)
    {
        var sha1 = SHA1.HashData(der); // vSphere identifies certificates by SHA1 thumbprint
        _lastSeenThumbprint = VSphereOptions.FormatThumbprint(sha1);
        return CryptographicOperations.FixedTimeEquals(sha1, _pinned);
    }

    /// <summary>Sends one request; returns the response element inside soap Body and any new session cookie.</summary>
    public async Task<(XElement Response, string? SessionCookie)> SendAsync(
        byte[] envelope, string apiVersion, string? sessionCookie, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, _sdk);
        request.Content = new ByteArrayContent(envelope);
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("text/xml") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation("SOAPAction", $"\"urn:vim25/{apiVersion}\"");
        if (sessionCookie is not null)
        {
            request.Headers.TryAddWithoutValidation("Cookie", sessionCookie);
        }

        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, ct).ConfigureAwait(false);
        }
        catch (HttpRequestException e) when (e.InnerException is AuthenticationException || e.HttpRequestError == HttpRequestError.SecureConnectionError)
        {
            throw new VSphereTlsException(
                $"TLS connection to {_sdk.Authority} refused: certificate thumbprint {_lastSeenThumbprint ?? "(none)"} " +
                $"does not match the pinned {VSphereOptions.FormatThumbprint(_pinned)}", e);
        }
        catch (HttpRequestException e)
        {
            throw new VSphereException($"cannot reach vCenter at {_sdk.Authority}: {e.Message}", e);
        }
        catch (TaskCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new VSphereException($"vCenter at {_sdk.Authority} did not answer within {_http.Timeout}", e);
        }

        using (response)
        {
            var body = await ReadBoundedAsync(response, ct).ConfigureAwait(false);
            string? cookie = null;
            if (response.Headers.TryGetValues("Set-Cookie", out var setCookies))
            {
                cookie = setCookies.Select(ParseSessionCookie).FirstOrDefault(c => c is not null);
            }
            var mediaType = response.Content.Headers.ContentType?.MediaType;
            if (response.StatusCode != HttpStatusCode.OK && response.StatusCode != HttpStatusCode.InternalServerError)
            {
                throw new VSphereException($"vCenter answered HTTP {(int)response.StatusCode} {response.ReasonPhrase}");
            }
            if (mediaType is not null && !mediaType.Contains("xml", StringComparison.OrdinalIgnoreCase))
            {
                throw new VSphereException($"vCenter answered HTTP {(int)response.StatusCode} with {mediaType}, not SOAP XML");
            }
            return (ParseEnvelope(body), cookie);
        }
    }

    private async Task<byte[]> ReadBoundedAsync(HttpResponseMessage response, CancellationToken ct)
    {
        if (response.Content.Headers.ContentLength is long declared && declared > _maxResponseBytes)
        {
            throw new VSphereException($"vCenter response of {declared} bytes exceeds the {_maxResponseBytes}-byte limit");
        }
        await using var stream = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + n > _maxResponseBytes)
            {
                throw new VSphereException($"vCenter response exceeds the {_maxResponseBytes}-byte limit");
            }
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    /// <summary><c>vmware_soap_session="…"; Path=/; …</c> → <c>vmware_soap_session="…"</c>, or null for other cookies.</summary>
    internal static string? ParseSessionCookie(string setCookie)
    {
        var first = setCookie.Split(';', 2)[0].Trim();
        return first.StartsWith(SessionCookieName + "=", StringComparison.Ordinal) ? first : null;
    }

    private static readonly XmlReaderSettings ReaderSettings = new()
    {
        DtdProcessing = DtdProcessing.Prohibit,
        XmlResolver = null,
        IgnoreComments = true,
        IgnoreProcessingInstructions = true,
    };

    /// <summary>Returns the first element in soap Body, or throws the fault it carries.</summary>
    internal static XElement ParseEnvelope(byte[] body)
    {
        XDocument doc;
        try
        {
            using var ms = new MemoryStream(body, writable: false);
            using var reader = XmlReader.Create(ms, ReaderSettings);
            doc = XDocument.Load(reader);
        }
        catch (XmlException e)
        {
            throw new VSphereException($"vCenter answered malformed XML: {e.Message}", e);
        }
        var soapBody = doc.Root.Child("Body")
            ?? throw new VSphereException("vCenter answered XML without a SOAP Body");
        var first = soapBody.Elements().FirstOrDefault()
            ?? throw new VSphereException("vCenter answered an empty SOAP Body");
        if (first.Name.LocalName == "Fault")
        {
            throw ToFault(first);
        }
        return first;
    }

    internal static VSphereFaultException ToFault(XElement fault)
    {
        var message = fault.Text("faultstring") ?? "";
        var detail = fault.Child("detail")?.Elements().FirstOrDefault();
        var type = detail.XsiType();
        if (type is null && detail is not null)
        {
            var local = detail.Name.LocalName;
            type = local.EndsWith("Fault", StringComparison.Ordinal) && local.Length > 5 ? local[..^5] : local;
        }
        return new VSphereFaultException(type ?? fault.Text("faultcode") ?? "SystemError", message, detail);
    }

    public void Dispose() => _http.Dispose();
}
