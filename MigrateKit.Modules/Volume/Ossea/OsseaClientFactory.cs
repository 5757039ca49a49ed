using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>Builds an <see cref="IOsseaClient"/> for one OSSEA config.</summary>
internal sealed class OsseaClientFactory
{
    /// <summary>The named HttpClient registered by <see cref="OsseaServiceCollectionExtensions.AddOsseaClient"/>.</summary>
    public const string HttpClientName = "ossea";

    private readonly IHttpClientFactory _httpClients;
    private readonly TimeProvider _time;
    private readonly IOsseaJobRecorder _recorder;
    private readonly ILoggerFactory _loggers;
    private readonly OsseaClientOptions _options;

    public OsseaClientFactory(
        IHttpClientFactory httpClients,
        TimeProvider time,
        IOsseaJobRecorder recorder,
        ILoggerFactory loggers,
        IOptions<OsseaClientOptions> options)
    {
        _httpClients = httpClients;
        _time = time;
        _recorder = recorder;
        _loggers = loggers;
        _options = options.Value;
        _options.Validate();
    }

    /// <exception cref="ArgumentException">The config is unusable (bad URL, empty keys or zone).</exception>
    public IOsseaClient Create(OsseaConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var endpoint = ValidateEndpoint(config.ApiUrl);
        RequireText(config.ApiKey, "api key");
        RequireText(config.SecretKey, "secret key");
        RequireText(config.Zone, "zone");

        var logger = _loggers.CreateLogger("MigrateKit.Modules.Volume.Ossea");
        var connection = new OsseaApiConnection(
            _httpClients.CreateClient(HttpClientName), endpoint, config.ApiKey, config.SecretKey, _options, _time, logger);
        var jobs = new OsseaJobRunner(connection, _recorder, logger);
        return new OsseaClient(connection, jobs, config.Zone, logger);
    }

    private static Uri ValidateEndpoint(string apiUrl)
    {
        if (string.IsNullOrWhiteSpace(apiUrl)
            || !Uri.TryCreate(apiUrl, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            throw new ArgumentException("The OSSEA api_url must be an absolute http(s) URL, e.g. https://cloud.example/client/api.", nameof(apiUrl));
        }

        if (!string.IsNullOrEmpty(uri.Query) || !string.IsNullOrEmpty(uri.UserInfo))
        {
            throw new ArgumentException("The OSSEA api_url must not carry a query string or user info.", nameof(apiUrl));
        }

        return uri;
    }

    // The messages name the field, never its value.
    private static void RequireText(string value, string what)
    {
        if (string.IsNullOrWhiteSpace(value) || value.Any(char.IsControl))
        {
            throw new ArgumentException($"The OSSEA {what} is empty or contains control characters.", what);
        }
    }
}
