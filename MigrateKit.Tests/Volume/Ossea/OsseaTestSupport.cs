using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support.Ossea;

namespace MigrateKit.Tests.Volume.Ossea;

/// <summary>Collects every job event the client reports.</summary>
internal sealed class RecordingJobRecorder : IOsseaJobRecorder
{
    public ConcurrentQueue<OsseaJobStarted> Started { get; } = new();

    public ConcurrentQueue<OsseaJobFinished> Finished { get; } = new();

    public Task JobStartedAsync(OsseaJobStarted job, CancellationToken cancellationToken)
    {
        Started.Enqueue(job);
        return Task.CompletedTask;
    }

    public Task JobFinishedAsync(OsseaJobFinished job, CancellationToken cancellationToken)
    {
        Finished.Enqueue(job);
        return Task.CompletedTask;
    }
}

/// <summary>Keeps every log line (all levels) so tests can check that no secret is ever written.</summary>
internal sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(this);

    public void Dispose()
    {
    }

    private sealed class Logger(CapturingLoggerProvider owner) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            => owner.Lines.Enqueue($"{logLevel} {eventId.Name}: {formatter(state, exception)} {exception}");
    }
}

/// <summary>A client wired exactly as production wires it (AddOsseaClient), with millisecond timings.</summary>
internal sealed class OsseaTestClient : IDisposable
{
    private readonly ServiceProvider _services;

    private OsseaTestClient(ServiceProvider services, IOsseaClient client, RecordingJobRecorder recorder, CapturingLoggerProvider logs)
    {
        _services = services;
        Client = client;
        Recorder = recorder;
        Logs = logs;
    }

    public IOsseaClient Client { get; }

    public RecordingJobRecorder Recorder { get; }

    public CapturingLoggerProvider Logs { get; }

    public static OsseaTestClient Create(
        OsseaEmulator emulator,
        Action<OsseaClientOptions>? configure = null,
        string? apiKey = null,
        string? secretKey = null,
        TimeProvider? time = null,
        string? apiUrl = null,
        IOsseaJobRecorder? recorderOverride = null)
    {
        var recorder = new RecordingJobRecorder();
        var logs = new CapturingLoggerProvider();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(logs));
        if (time is not null)
        {
            services.AddSingleton(time);
        }

        services.AddSingleton(recorderOverride ?? recorder);
        services.AddOsseaClient(o =>
        {
            o.RequestTimeout = TimeSpan.FromSeconds(5);
            o.RetryBaseDelay = TimeSpan.FromMilliseconds(5);
            o.RetryMaxDelay = TimeSpan.FromMilliseconds(50);
            o.JobPollInitial = TimeSpan.FromMilliseconds(5);
            o.JobPollIncrement = TimeSpan.FromMilliseconds(5);
            o.JobPollMax = TimeSpan.FromMilliseconds(40);
            o.JobTimeout = TimeSpan.FromSeconds(20);
            configure?.Invoke(o);
        });
        var provider = services.BuildServiceProvider();
        var client = provider.GetRequiredService<OsseaClientFactory>().Create(new OsseaConfig
        {
            Name = "emulator",
            ApiUrl = apiUrl ?? emulator.ApiUrl.ToString(),
            ApiKey = apiKey ?? emulator.ApiKey,
            SecretKey = secretKey ?? emulator.SecretKey,
            Zone = emulator.ZoneId,
            OmaVmId = emulator.OmaVmId,
        });
        return new OsseaTestClient(provider, client, recorder, logs);
    }

    public void Dispose() => _services.Dispose();
}
