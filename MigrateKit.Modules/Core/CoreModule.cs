using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using MigrateKit.Modules.Core.Api;
using MigrateKit.Modules.Core.Auth;
using MigrateKit.Modules.Core.Data;
using MigrateKit.Modules.Core.Errors;
using MigrateKit.Modules.Core.JobLog;
using MigrateKit.Modules.Core.Mediation;
using MySqlConnector;

namespace MigrateKit.Modules.Core;

/// <summary>Core: database access, the job log, the MediatR pipeline, errors and admin authentication.</summary>
public static class CoreModule
{
    public const string AdminAuthenticationScheme = AdminTokenAuthenticationHandler.SchemeName;

    public static IServiceCollection AddCoreModule(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<DatabaseOptions>().Bind(configuration.GetSection(DatabaseOptions.SectionName));
        services.TryAddSingleton(sp =>
        {
            var connectionString = configuration.GetSection(DatabaseOptions.SectionName)[nameof(DatabaseOptions.ConnectionString)];
            if (string.IsNullOrWhiteSpace(connectionString))
            {
                throw new DatabaseNotConfiguredException();
            }
            return new MySqlDataSourceBuilder(DatabaseOptions.Normalise(connectionString)).Build();
        });
        services.TryAddSingleton<MigrationRunner>();
        services.TryAddSingleton<JobStore>();
        services.TryAddSingleton<IJobTracker, JobTracker>();
        services.TryAddSingleton<AdminTokenStore>();
        // Registered before every module's workers, so it runs before they start new jobs.
        services.AddHostedService<InterruptedJobSweep>();
        services.TryAddSingleton<Security.SecretProtector>();
        services.AddModuleHandlers(typeof(CoreModule).Assembly);

        services.AddProblemDetails();
        services.AddExceptionHandler<ProblemDetailsExceptionHandler>();
        services.AddAuthentication(AdminAuthenticationScheme)
            .AddScheme<AuthenticationSchemeOptions, AdminTokenAuthenticationHandler>(AdminAuthenticationScheme, null);
        services.AddAuthorization();
        return services;
    }

    /// <summary>Health (anonymous) on <paramref name="anonymous"/>; the job log on <paramref name="api"/>.</summary>
    public static void MapCoreEndpoints(this IEndpointRouteBuilder anonymous, IEndpointRouteBuilder api)
    {
        HealthEndpoints.Map(anonymous);
        JobEndpoints.Map(api);
    }
}
