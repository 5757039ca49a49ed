namespace MigrateKit.Modules.Volume.Ossea;

/// <summary>Timing and size limits of the OSSEA client. Defaults suit a real cloud; tests inject milliseconds.</summary>
internal sealed class OsseaClientOptions
{
    /// <summary>One HTTP request, from sending to the last byte of the answer.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary><c>expires</c> = now + this (signatureversion 3); the server's strict mode allows at most 15 min.</summary>
    public TimeSpan SignatureLifetime { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>Tries per request, the first included, for failures that are safe to repeat.</summary>
    public int MaxAttempts { get; set; } = 4;

    /// <summary>Retry delay before jitter: base × 2^(attempt-1), capped at <see cref="RetryMaxDelay"/>.</summary>
    public TimeSpan RetryBaseDelay { get; set; } = TimeSpan.FromMilliseconds(500);

    public TimeSpan RetryMaxDelay { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>First wait before asking about an async job (cloudstack-go: 1 s, +1 s per poll, up to 15 s).</summary>
    public TimeSpan JobPollInitial { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan JobPollIncrement { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan JobPollMax { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How long an async job may run before the client gives up waiting (the job itself is not cancelled).</summary>
    public TimeSpan JobTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>List calls page with this size (CloudStack's default.page.size is 500).</summary>
    public int PageSize { get; set; } = 500;

    /// <summary>Answers larger than this are refused rather than buffered.</summary>
    public int MaxResponseBytes { get; set; } = 32 * 1024 * 1024;

    /// <summary>Requests whose query string would be longer than this are sent as a POST form.</summary>
    public int MaxGetQueryLength { get; set; } = 4096;

    /// <summary>
    /// Send state-changing commands as POST forms (reads stay GET). Needed when the cloud runs with
    /// <c>enforce.post.requests.and.timestamps=true</c>, which makes state-changing APIs POST-only.
    /// </summary>
    public bool PostStateChangingRequests { get; set; }

    public void Validate()
    {
        static void Positive(TimeSpan value, string name)
        {
            if (value <= TimeSpan.Zero)
            {
                throw new ArgumentOutOfRangeException(name, value, "Must be positive.");
            }
        }

        Positive(RequestTimeout, nameof(RequestTimeout));
        Positive(SignatureLifetime, nameof(SignatureLifetime));
        Positive(RetryBaseDelay, nameof(RetryBaseDelay));
        Positive(RetryMaxDelay, nameof(RetryMaxDelay));
        Positive(JobPollInitial, nameof(JobPollInitial));
        Positive(JobPollMax, nameof(JobPollMax));
        Positive(JobTimeout, nameof(JobTimeout));
        if (JobPollIncrement < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(JobPollIncrement), JobPollIncrement, "Must not be negative.");
        }

        if (MaxAttempts is < 1 or > 20)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxAttempts), MaxAttempts, "Must be 1..20.");
        }

        if (PageSize is < 1 or > 10_000)
        {
            throw new ArgumentOutOfRangeException(nameof(PageSize), PageSize, "Must be 1..10000.");
        }

        if (MaxResponseBytes < 1024)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxResponseBytes), MaxResponseBytes, "Must be at least 1024.");
        }

        if (MaxGetQueryLength < 256)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxGetQueryLength), MaxGetQueryLength, "Must be at least 256.");
        }
    }
}
