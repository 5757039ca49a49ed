using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>Registration of the OSSEA client (called from VolumeModule).</summary>
internal static class OsseaServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="OsseaClientFactory"/>, its named HttpClient and options. An
    /// <see cref="IOsseaJobRecorder"/> must be registered too: resolving the factory fails without one.
    /// </summary>
    public static IServiceCollection AddOsseaClient(this IServiceCollection services, Action<OsseaClientOptions>? configure = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<OsseaClientOptions>();
        if (configure is not null)
        {
            options.Configure(configure);
        }

        options.Validate(o =>
        {
            o.Validate();
            return true;
        });

        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<OsseaClientFactory>();
        services.AddHttpClient(OsseaClientFactory.HttpClientName, client =>
            {
                // The client applies its own per-request timeout (OsseaClientOptions.RequestTimeout).
                client.Timeout = Timeout.InfiniteTimeSpan;
            })
            .ConfigurePrimaryHttpMessageHandler(() => new SocketsHttpHandler
            {
                PooledConnectionLifetime = TimeSpan.FromMinutes(5),
                ConnectTimeout = TimeSpan.FromSeconds(15),
                AutomaticDecompression = DecompressionMethods.All,
                AllowAutoRedirect = false,
            })
            // The factory's default request logging writes the URL, and a GET's URL holds the
            // api key and signature: only OsseaLog (which never does) logs OSSEA calls.
            .RemoveAllLoggers();
        return services;
    }
}
