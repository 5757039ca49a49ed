using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Runtime.ExceptionServices;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>
/// Signs, sends and retries single CloudStack API requests, and turns error answers into
/// <see cref="OsseaApiException"/>. Knows nothing about individual commands.
/// </summary>
internal sealed partial class OsseaApiConnection
{
    private const string ExpiresFormat = "yyyy-MM-dd'T'HH:mm:ss'Z'";

    private readonly HttpClient _http;
    private readonly Uri _endpoint;
    private readonly string _apiKey;
    private readonly byte[] _secretKey;
    private readonly OsseaClientOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public OsseaApiConnection(
        HttpClient http, Uri endpoint, string apiKey, string secretKey, OsseaClientOptions options, TimeProvider time, ILogger logger)
    {
        _http = http;
        _endpoint = endpoint;
        _apiKey = apiKey;
        _secretKey = Encoding.UTF8.GetBytes(secretKey);
        _options = options;
        _time = time;
        _logger = logger;
    }

    public OsseaClientOptions Options => _options;

    public TimeProvider Time => _time;

    /// <summary>
    /// Sends <paramref name="request"/> and hands the answer's envelope (<c>{"&lt;command&gt;response":{…}}</c>'s
    /// inner object) to <paramref name="read"/>. Retries what <see cref="OsseaErrorCodes.IsTransient"/>
    /// allows, plus connection failures where nothing reached the server; a state-changing request
    /// whose answer was lost is never repeated here (<see cref="OsseaApiException.OutcomeUnknown"/>).
    /// </summary>
    public async Task<T> CallAsync<T>(OsseaRequest request, Func<JsonElement, T> read, CancellationToken cancellationToken)
    {
        for (var attempt = 1; ; attempt++)
        {
            ExceptionDispatchInfo captured;
            try
            {
                return await SendOnceAsync(request, read, attempt, cancellationToken).ConfigureAwait(false);
            }
            catch (OsseaApiException ex)
            {
                captured = ExceptionDispatchInfo.Capture(ex);
            }

            var failure = (OsseaApiException)captured.SourceException;
            if (!failure.IsTransient || attempt >= _options.MaxAttempts)
            {
                OsseaLog.RequestFailed(_logger, request.Command, failure.Code, failure.CsErrorCode, failure.IsTransient, failure.OutcomeUnknown, failure.Text);
                captured.Throw();
            }

            var delay = RetryDelay(attempt, failure);
            OsseaLog.RequestRetrying(_logger, request.Command, attempt, failure.Code, failure.Text, (long)delay.TotalMilliseconds);
            await Task.Delay(delay, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task<T> SendOnceAsync<T>(OsseaRequest request, Func<JsonElement, T> read, int attempt, CancellationToken cancellationToken)
    {
        var command = request.Command;
        using var message = BuildMessage(request);
        OsseaLog.RequestSending(_logger, command, message.Method.Method, attempt);

        using var timeout = new CancellationTokenSource(_options.RequestTimeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        HttpStatusCode status;
        byte[] body;
        try
        {
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            status = response.StatusCode;
            body = await ReadBodyAsync(response, command, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new OsseaApiException(
                command, OsseaErrorCodes.NoResponse, null,
                $"no answer within {_options.RequestTimeout.TotalSeconds:0.###} s",
                isTransient: request.ReadOnly, outcomeUnknown: !request.ReadOnly);
        }
        catch (HttpRequestException ex)
        {
            // Nothing was sent when the connection could not even be opened: safe to repeat anything.
            var notSent = ex.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError;
            var permanent = ex.HttpRequestError is HttpRequestError.SecureConnectionError;
            throw new OsseaApiException(
                command, OsseaErrorCodes.NoResponse, null,
                $"transport failure ({ex.HttpRequestError})",
                isTransient: !permanent && (notSent || request.ReadOnly),
                outcomeUnknown: !notSent && !request.ReadOnly,
                inner: ex);
        }
        catch (IOException ex)
        {
            // The connection broke while the answer was being read (HttpIOException): it was sent.
            throw new OsseaApiException(
                command, OsseaErrorCodes.NoResponse, null, "connection lost while reading the answer",
                isTransient: request.ReadOnly, outcomeUnknown: !request.ReadOnly, inner: ex);
        }

        return Interpret(request, status, body, read);
    }

    private static T Interpret<T>(OsseaRequest request, HttpStatusCode status, byte[] body, Func<JsonElement, T> read)
    {
        var command = request.Command;
        var code = (int)status;
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(body);
        }
        catch (JsonException)
        {
            if (code is >= 200 and < 300)
            {
                throw Malformed(request, "the answer is not JSON");
            }

            throw new OsseaApiException(command, code, null, $"HTTP {code} without a CloudStack error body",
                OsseaErrorCodes.IsTransient(code, request.ReadOnly));
        }

        using (document)
        {
            var root = document.RootElement;
            if (OsseaResponseReader.TryReadError(root, out var error))
            {
                // ApiServlet sets the HTTP status to the errorcode; trust the body when both exist.
                var errorCode = error.ErrorCode != 0 ? error.ErrorCode : code;
                throw new OsseaApiException(command, errorCode, error.CsErrorCode,
                    error.ErrorText ?? "(no error text)", OsseaErrorCodes.IsTransient(errorCode, request.ReadOnly));
            }

            if (code is < 200 or >= 300)
            {
                throw new OsseaApiException(command, code, null, $"HTTP {code} without a CloudStack error body",
                    OsseaErrorCodes.IsTransient(code, request.ReadOnly));
            }

            if (!OsseaResponseReader.TryGetEnvelope(root, command, out var envelope))
            {
                throw Malformed(request, $"no '{command.ToLowerInvariant()}response' object in the answer");
            }

            try
            {
                return read(envelope);
            }
            catch (Exception ex) when (ex is JsonException or InvalidOperationException or FormatException)
            {
                throw Malformed(request, $"unexpected answer shape: {ex.Message}");
            }
        }
    }

    private static OsseaApiException Malformed(OsseaRequest request, string text)
        => new(request.Command, OsseaErrorCodes.NoResponse, null, text, isTransient: false, outcomeUnknown: !request.ReadOnly);

    private HttpRequestMessage BuildMessage(OsseaRequest request)
    {
        var parameters = new List<KeyValuePair<string, string>>(request.Parameters.Count + 6)
        {
            new("command", request.Command),
            new("apiKey", _apiKey),
            new("response", "json"),
            new("signatureversion", "3"),
            new("expires", _time.GetUtcNow().Add(_options.SignatureLifetime).UtcDateTime.ToString(ExpiresFormat, CultureInfo.InvariantCulture)),
        };
        foreach (var parameter in request.Parameters)
        {
            if (IsReserved(parameter.Key))
            {
                throw new ArgumentException($"Parameter '{parameter.Key}' is set by the client itself.", nameof(request));
            }

            parameters.Add(parameter);
        }

        var signature = OsseaRequestSigner.Sign(parameters, _secretKey);
        var query = new StringBuilder();
        foreach (var (name, value) in parameters)
        {
            query.Append(OsseaRequestSigner.Encode(name)).Append('=').Append(OsseaRequestSigner.Encode(value)).Append('&');
        }

        query.Append(OsseaRequestSigner.SignatureParameter).Append('=').Append(OsseaRequestSigner.Encode(signature));

        HttpRequestMessage message;
        if (request.RequiresPost
            || (_options.PostStateChangingRequests && !request.ReadOnly)
            || query.Length > _options.MaxGetQueryLength)
        {
            message = new HttpRequestMessage(HttpMethod.Post, _endpoint)
            {
                Content = new StringContent(query.ToString(), Encoding.UTF8, "application/x-www-form-urlencoded"),
            };
        }
        else
        {
            message = new HttpRequestMessage(HttpMethod.Get, new UriBuilder(_endpoint) { Query = query.ToString() }.Uri);
        }

        message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        return message;
    }

    private static bool IsReserved(string name)
        => name.Equals("command", StringComparison.OrdinalIgnoreCase)
            || name.Equals("apiKey", StringComparison.OrdinalIgnoreCase)
            || name.Equals("response", StringComparison.OrdinalIgnoreCase)
            || name.Equals("signatureversion", StringComparison.OrdinalIgnoreCase)
            || name.Equals("expires", StringComparison.OrdinalIgnoreCase)
            || name.Equals(OsseaRequestSigner.SignatureParameter, StringComparison.OrdinalIgnoreCase);

    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, string command, CancellationToken cancellationToken)
    {
        var limit = _options.MaxResponseBytes;
        if (response.Content.Headers.ContentLength > limit)
        {
            throw new OsseaApiException(command, (int)response.StatusCode, null,
                $"answer of {response.Content.Headers.ContentLength} bytes is over the {limit} byte limit", isTransient: false);
        }

        await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        using var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await stream.ReadAsync(chunk, cancellationToken).ConfigureAwait(false)) > 0)
        {
            if (buffer.Length + read > limit)
            {
                throw new OsseaApiException(command, (int)response.StatusCode, null,
                    $"answer is over the {limit} byte limit", isTransient: false);
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    private TimeSpan RetryDelay(int attempt, OsseaApiException failure)
    {
        var exponential = _options.RetryBaseDelay * Math.Pow(2, attempt - 1);
        var capped = exponential < _options.RetryMaxDelay ? exponential : _options.RetryMaxDelay;
        // Half fixed, half random: spreads retries of many callers without ever retrying at once.
        var delay = capped * (0.5 + (Random.Shared.NextDouble() * 0.5));

        // The throttler says how long to wait: "please retry after [N] ms."
        if (failure.Code == OsseaErrorCodes.ApiLimitExceeded
            && RetryAfterPattern().Match(failure.Text) is { Success: true } match
            && long.TryParse(match.Groups[1].ValueSpan, NumberStyles.None, CultureInfo.InvariantCulture, out var ms))
        {
            var asked = TimeSpan.FromMilliseconds(ms);
            delay = asked > delay ? asked : delay;
            delay = delay < _options.RetryMaxDelay ? delay : _options.RetryMaxDelay;
        }

        return delay;
    }

    [GeneratedRegex(@"retry after \[?(\d{1,9})\]? ?ms", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex RetryAfterPattern();
}
