using System.Globalization;
using System.Xml.Linq;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace MigrateKit.Modules.Vma.VSphere;

/// <summary>The parts of ServiceContent the client uses.</summary>
internal sealed record VimServiceContent(
    MoRef RootFolder, MoRef PropertyCollector, MoRef ViewManager, MoRef SessionManager, MoRef? SearchIndex,
    string ApiVersion, string ApiType, string FullName);

/// <summary>
/// A small typed vSphere SOAP (vim25) client: one logged-in session, re-established transparently
/// when vCenter reports <c>NotAuthenticated</c> (the failed call is retried once). Thread-safe.
/// Feature areas live in the partial files next to this one.
/// </summary>
internal sealed partial class VSphereClient : IAsyncDisposable, IDisposable
{
    // Used only for RetrieveServiceContent, before the server's own API version is known;
    // every vCenter since 6.5 accepts it.
    private const string BootstrapApiVersion = "6.5";
    private static readonly MoRef ServiceInstance = new("ServiceInstance", "ServiceInstance");

    private readonly VSphereOptions _options;
    private readonly VimSoapTransport _transport;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _loginLock = new(1, 1);

    private VimServiceContent? _content;
    private volatile string? _cookie;
    private long _sessionGeneration;
    private string? _sessionKey;

    public VSphereClient(VSphereOptions options, TimeProvider time, ILogger<VSphereClient>? logger = null,
        HttpMessageHandler? handler = null)
    {
        options.Validate();
        _options = options;
        _time = time;
        _logger = (ILogger?)logger ?? NullLogger.Instance;
        _transport = new VimSoapTransport(options, handler);
    }

    public VSphereOptions Options => _options;

    /// <summary>ServiceContent, after <see cref="ConnectAsync"/>.</summary>
    public VimServiceContent Content => _content ?? throw new InvalidOperationException("not connected to vCenter");

    /// <summary>How many times this client has logged in (tests check transparent re-login).</summary>
    public long LoginCount => Interlocked.Read(ref _sessionGeneration);

    /// <summary>RetrieveServiceContent, then Login.</summary>
    public async Task ConnectAsync(CancellationToken ct)
    {
        await EnsureContentAsync(ct).ConfigureAwait(false);
        await LoginAsync(expectedGeneration: Interlocked.Read(ref _sessionGeneration), ct).ConfigureAwait(false);
    }

    private async Task<VimServiceContent> EnsureContentAsync(CancellationToken ct)
    {
        if (_content is not null)
        {
            return _content;
        }
        var envelope = VimWriter.Envelope("RetrieveServiceContent", ServiceInstance, null);
        var (response, _) = await _transport.SendAsync(envelope, BootstrapApiVersion, null, ct).ConfigureAwait(false);
        var rv = response.Child("returnval") ?? throw new VSphereException("RetrieveServiceContent returned no ServiceContent");
        MoRef Required(string name) => rv.Child(name).AsRef()
            ?? throw new VSphereException($"vCenter ServiceContent lacks {name}; is this a vCenter /sdk endpoint?");
        var content = new VimServiceContent(
            Required("rootFolder"), Required("propertyCollector"), Required("viewManager"), Required("sessionManager"),
            rv.Child("searchIndex").AsRef(),
            rv.Text("about", "apiVersion") ?? BootstrapApiVersion,
            rv.Text("about", "apiType") ?? "",
            rv.Text("about", "fullName") ?? "");
        _content = content;
        return content;
    }

    /// <summary>Logs in unless another caller already renewed the session since <paramref name="expectedGeneration"/>.</summary>
    private async Task LoginAsync(long expectedGeneration, CancellationToken ct)
    {
        await _loginLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_cookie is not null && Interlocked.Read(ref _sessionGeneration) != expectedGeneration)
            {
                return;
            }
            var content = await EnsureContentAsync(ct).ConfigureAwait(false);
            var password = await ReadPasswordAsync(ct).ConfigureAwait(false);
            var envelope = VimWriter.Envelope("Login", content.SessionManager, w => w
                .Value("userName", _options.User)
                .Value("password", password));
            XElement response;
            string? cookie;
            try
            {
                (response, cookie) = await _transport.SendAsync(envelope, content.ApiVersion, null, ct).ConfigureAwait(false);
            }
            catch (VSphereFaultException e) when (e.FaultType is "InvalidLogin" or "NoPermission" or "NotAuthenticated")
            {
                // The fault text is vCenter's; it never echoes the password.
                throw new VSphereAuthenticationException(
                    $"vCenter {_transport.Sdk.Authority} refused the login of user '{_options.User}' ({e.FaultType}: {e.FaultMessage})", e);
            }
            finally
            {
                Array.Clear(envelope);
            }
            _cookie = cookie ?? throw new VSphereException("vCenter Login answered without a vmware_soap_session cookie");
            _sessionKey = response.Text("returnval", "key");
            Interlocked.Increment(ref _sessionGeneration);
            VSphereLog.LoggedIn(_logger, _transport.Sdk.Authority, _options.User, content.ApiVersion);
        }
        finally
        {
            _loginLock.Release();
        }
    }

    private async Task<string> ReadPasswordAsync(CancellationToken ct)
    {
        string text;
        try
        {
            text = await File.ReadAllTextAsync(_options.PasswordFile, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VSphereAuthenticationException($"cannot read the vCenter password file {_options.PasswordFile}: {e.Message}", e);
        }
        var password = text.Split('\n', 2)[0].TrimEnd('\r');
        if (password.Length == 0)
        {
            throw new VSphereAuthenticationException($"the vCenter password file {_options.PasswordFile} is empty");
        }
        return password;
    }

    /// <summary>
    /// Calls a vim25 method and returns its response element. When vCenter says the session is not
    /// authenticated (expired mid-copy), logs in again and retries the call once: a NotAuthenticated
    /// fault means vCenter did not run the call, so the retry cannot run it twice.
    /// </summary>
    internal async Task<XElement> InvokeAsync(string method, MoRef @this, Action<VimWriter>? body, CancellationToken ct)
    {
        var content = await EnsureContentAsync(ct).ConfigureAwait(false);
        if (_cookie is null)
        {
            await LoginAsync(Interlocked.Read(ref _sessionGeneration), ct).ConfigureAwait(false);
        }
        var envelope = VimWriter.Envelope(method, @this, body);
        var generation = Interlocked.Read(ref _sessionGeneration);
        try
        {
            var (response, _) = await _transport.SendAsync(envelope, content.ApiVersion, _cookie, ct).ConfigureAwait(false);
            return response;
        }
        catch (VSphereFaultException e) when (e.IsNotAuthenticated)
        {
            VSphereLog.SessionExpired(_logger, method);
            await LoginAsync(generation, ct).ConfigureAwait(false);
            var (response, _) = await _transport.SendAsync(envelope, content.ApiVersion, _cookie, ct).ConfigureAwait(false);
            return response;
        }
    }

    /// <summary>Keep-alive: CurrentTime on the session (re-logging in if it had expired). Returns vCenter's clock.</summary>
    public async Task<DateTimeOffset> KeepAliveAsync(CancellationToken ct)
    {
        var response = await InvokeAsync("CurrentTime", ServiceInstance, null, ct).ConfigureAwait(false);
        var text = response.Text("returnval");
        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var t)
            ? t
            : throw new VSphereException($"CurrentTime returned '{text}', not a time");
    }

    /// <summary>SessionIsActive for this client's own session, without re-logging in.</summary>
    public async Task<bool> IsSessionActiveAsync(CancellationToken ct)
    {
        if (_cookie is null || _sessionKey is null)
        {
            return false;
        }
        var content = await EnsureContentAsync(ct).ConfigureAwait(false);
        var envelope = VimWriter.Envelope("SessionIsActive", content.SessionManager, w => w
            .Value("sessionID", _sessionKey)
            .Value("userName", _options.User));
        try
        {
            var (response, _) = await _transport.SendAsync(envelope, content.ApiVersion, _cookie, ct).ConfigureAwait(false);
            return response.Bool("returnval") == true;
        }
        catch (VSphereFaultException e) when (e.IsNotAuthenticated)
        {
            return false;
        }
    }

    public async Task LogoutAsync(CancellationToken ct)
    {
        if (_cookie is null || _content is null)
        {
            return;
        }
        var envelope = VimWriter.Envelope("Logout", _content.SessionManager, null);
        try
        {
            await _transport.SendAsync(envelope, _content.ApiVersion, _cookie, ct).ConfigureAwait(false);
        }
        catch (VSphereFaultException e) when (e.IsNotAuthenticated)
        {
            // Already gone on the server: nothing to end.
        }
        _cookie = null;
        _sessionKey = null;
        VSphereLog.LoggedOut(_logger, _transport.Sdk.Authority);
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await LogoutAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is VSphereException or OperationCanceledException)
        {
            // Best effort: the session expires on its own.
        }
        Dispose();
    }

    public void Dispose()
    {
        _transport.Dispose();
        _loginLock.Dispose();
    }
}
