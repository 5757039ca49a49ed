using System.Diagnostics;
using MediatR;
using Microsoft.Extensions.Logging;

namespace MigrateKit.Modules.Core.Mediation;

/// <summary>Traces each request's name and duration (never its content: it may carry secrets).</summary>
internal sealed partial class LoggingBehavior<TRequest, TResponse>(ILogger<LoggingBehavior<TRequest, TResponse>> logger)
    : IPipelineBehavior<TRequest, TResponse>
{
    public async Task<TResponse> Handle(TRequest request, CancellationToken cancellationToken, RequestHandlerDelegate<TResponse> next)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            return await next();
        }
        finally
        {
            if (logger.IsEnabled(LogLevel.Debug))
            {
                LogHandled(logger, typeof(TRequest).Name, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
            }
        }
    }

    [LoggerMessage(EventId = 200, EventName = "RequestHandled", Level = LogLevel.Debug,
        Message = "{Request} handled in {ElapsedMs:0.0} ms", SkipEnabledCheck = true)]
    private static partial void LogHandled(ILogger logger, string request, double elapsedMs);
}
