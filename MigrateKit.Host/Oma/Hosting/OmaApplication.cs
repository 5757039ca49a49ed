using System.Text.Json.Serialization;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.Extensions.Options;
using MigrateKit.Modules.Agents;
using MigrateKit.Modules.Cleanup;
using MigrateKit.Modules.Core;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Failover;
using MigrateKit.Modules.Replication;
using MigrateKit.Modules.Volume;

namespace MigrateKit.Host.Oma.Hosting;

/// <summary>The composition root: modules, API pipeline and endpoints. Nothing else lives here.</summary>
internal static class OmaApplication
{
    public const string DefaultApiListen = "127.0.0.1:8082";

    public static WebApplication Build(IConfiguration configuration, Action<IServiceCollection>? configureTestServices = null)
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddConfiguration(configuration);
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k => k.AddServerHeader = false);
        builder.Services.AddRoutingCore();
        builder.Services.AddLogging(logging =>
        {
            // Framework chatter stays at warning unless the configuration file asks for more.
            logging.SetMinimumLevel(LogLevel.Information);
            logging.AddFilter("Microsoft", LogLevel.Warning);
            logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Information);
            logging.AddConfiguration(configuration.GetSection("Logging"));
            // Logs go to stderr (journald keeps both): stdout is for what a verb prints, e.g. a token.
            logging.AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace);
            logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ "; o.UseUtcTimestamp = true; });
        });
        builder.Host.UseSystemd();
        builder.WebHost.UseUrls("http://" + (configuration["Api:Listen"] ?? DefaultApiListen));

        builder.Services.ConfigureHttpJsonOptions(o => o.SerializerOptions.Converters.Add(new JsonStringEnumConverter()));
        builder.Services.AddOpenApi("v1");
        // Authentication pulls in data protection; nothing here protects data with it, so keep
        // its keys in memory instead of writing a key ring into the service user's home.
        builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();
        builder.Services
            .AddCoreModule(configuration)
            .AddAgentsModule(configuration)
            .AddVolumeModule(configuration)
            .AddReplicationModule(configuration)
            .AddFailoverModule(configuration)
            .AddCleanupModule(configuration);
        builder.Services.AddSingleton<RequestLoggingMiddleware>();
        configureTestServices?.Invoke(builder.Services);

        var app = builder.Build();
        app.UseMiddleware<RequestLoggingMiddleware>();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapOpenApi("/api/v1/openapi.json").AllowAnonymous();
        var api = app.MapGroup("/api/v1").RequireAuthorization();
        app.MapCoreEndpoints(api);
        api.MapAgentsEndpoints();
        api.MapVolumeEndpoints();
        api.MapReplicationEndpoints();
        api.MapFailoverEndpoints();
        api.MapCleanupEndpoints();
        return app;
    }

    /// <summary>
    /// Applies the schema before anything else touches the database. MariaDB may still be starting
    /// (service ordering, a restart), so connection failures are retried for a while.
    /// </summary>
    public static async Task MigrateAsync(IServiceProvider services, TimeSpan patience, CancellationToken ct)
    {
        var runner = services.GetRequiredService<MigrationRunner>();
        var connectionString = services.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString;
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            throw new DatabaseNotConfiguredException();
        }
        var time = services.GetRequiredService<TimeProvider>();
        var deadline = time.GetUtcNow() + patience;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            try
            {
                runner.Migrate(connectionString);
                return;
            }
            catch (Exception ex) when (IsUnreachable(ex) && time.GetUtcNow() + delay < deadline)
            {
                await Task.Delay(delay, time, ct);
                delay = TimeSpan.FromMilliseconds(Math.Min(delay.TotalMilliseconds * 2, 5000));
            }
        }
    }

    private static bool IsUnreachable(Exception ex) =>
        ex is MySqlConnector.MySqlException { ErrorCode: MySqlConnector.MySqlErrorCode.UnableToConnectToHost }
        || ex.InnerException is not null && IsUnreachable(ex.InnerException);
}
