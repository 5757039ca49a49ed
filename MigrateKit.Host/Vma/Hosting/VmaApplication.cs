using System.Net;
using Microsoft.Extensions.Configuration;
using MigrateKit.Modules.Vma;

namespace MigrateKit.Host.Vma.Hosting;

/// <summary>
/// The agent service: Kestrel on loopback only (the VMA API for local diagnostics; the OMA reaches
/// the same API through the tunnel), the tunnel to the OMA, vCenter keep-alive and the sync manager.
/// </summary>
internal static class VmaApplication
{
    public static WebApplication Build(IConfiguration configuration)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Configuration.AddConfiguration(configuration);
        builder.Host.UseSystemd();
        var listen = ParseLoopback(configuration["Vma:ApiListen"] ?? "127.0.0.1:8081");
        builder.WebHost.ConfigureKestrel(k => k.Listen(listen));
        builder.Services.AddProblemDetails();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddVmaModule(builder.Configuration);
        var app = builder.Build();
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.MapVmaEndpoints();
        return app;
    }

    /// <summary>The API has no authentication, so it may only ever listen on a loopback address.</summary>
    internal static IPEndPoint ParseLoopback(string text)
    {
        if (!IPEndPoint.TryParse(text, out var endPoint) || endPoint.Port is < 0 or > 65535)
        {
            throw new VmaConfigurationException($"Vma:ApiListen '{text}' is not ADDRESS:PORT");
        }
        if (!IPAddress.IsLoopback(endPoint.Address))
        {
            throw new VmaConfigurationException($"Vma:ApiListen '{text}' is not a loopback address; the VMA API has no authentication and is reached remotely only through the tunnel");
        }
        return endPoint;
    }
}

/// <summary>Configuration the operator must fix; reported as one line, exit code 2.</summary>
internal sealed class VmaConfigurationException(string message) : Exception(message);
