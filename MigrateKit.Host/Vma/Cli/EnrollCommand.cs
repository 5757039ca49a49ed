using System.CommandLine;
using MigrateKit.Modules.Transport.Pki;

namespace MigrateKit.Host.Vma.Cli;

/// <summary>
/// <c>enroll --oma HOST:PORT --token-file FILE|--token TOKEN --fingerprint SHA256 [--name NAME] [--state-dir DIR]</c>:
/// trades a one-time token for the agent's tunnel certificate, pinning the OMA by fingerprint.
/// </summary>
internal static class EnrollCommand
{
    public static Command Create()
    {
        var oma = new Option<string>("--oma") { Description = "The OMA's tunnel address, HOST:PORT (port 443 by default).", Required = true };
        var tokenFile = new Option<string?>("--token-file") { Description = "File holding the one-time enrollment token ('-' reads it from stdin). Preferred." };
        var token = new Option<string?>("--token")
        {
            Description = "The token itself. Tolerated on the command line only because it works once and expires soon "
                + "(other local users can see argv while enroll runs); prefer --token-file.",
        };
        var fingerprint = new Option<string>("--fingerprint") { Description = "SHA-256 fingerprint of the OMA's tunnel certificate (migratekit-oma fingerprint).", Required = true };
        var name = new Option<string?>("--name") { Description = "Agent name (must match the name the token was made for)." };
        var stateDir = AgentTunnelOptions.StateDir();
        var command = new Command("enroll", "Enroll this agent with the OMA using a one-time token; stores the key and certificates in the state directory.")
        {
            oma, tokenFile, token, fingerprint, name, stateDir,
        };
        command.Validators.Add(r =>
        {
            if ((r.GetValue(tokenFile) is null) == (r.GetValue(token) is null))
            {
                r.AddError("give exactly one of --token-file and --token");
            }
        });
        command.SetAction((parse, ct) => CliRunner.RunAsync(async () =>
        {
            var configuration = VmaCliOptions.BuildConfiguration(parse);
            if (!VmaCliOptions.TryParseHostPort(parse.GetValue(oma)!, out var host, out var port))
            {
                throw new VmaCliException($"--oma '{parse.GetValue(oma)}' is not HOST:PORT");
            }
            if (!CertificateFingerprint.TryParse(parse.GetValue(fingerprint), out var pin))
            {
                throw new VmaCliException("--fingerprint is not a SHA-256 fingerprint (64 hex digits, colons allowed)");
            }
            var secret = parse.GetValue(token) ?? await ReadTokenAsync(parse.GetValue(tokenFile)!, ct);
            var store = new AgentCredentialStore(AgentTunnelOptions.StateDirectory(parse.GetValue(stateDir), configuration));
            var result = await TunnelEnrollmentClient.EnrollAsync(new EnrollmentOptions
            {
                Host = host,
                Port = port,
                ServerFingerprint = pin,
                Token = secret,
                AgentName = parse.GetValue(name),
            }, store, ct);
            Console.WriteLine($"enrolled as '{result.AgentName}'; certificate {result.Fingerprint} valid until {result.NotAfter:u}; credentials in {result.StateDirectory}");
            return 0;
        }));
        return command;
    }

    private static async Task<string> ReadTokenAsync(string file, CancellationToken ct)
    {
        string text;
        if (file == "-")
        {
            text = await Console.In.ReadLineAsync(ct) ?? "";
        }
        else if (!File.Exists(file))
        {
            throw new VmaCliException($"token file '{file}' does not exist");
        }
        else
        {
            text = (await File.ReadAllLinesAsync(file, ct)).FirstOrDefault() ?? "";
        }
        text = text.Trim();
        return text.Length > 0 ? text : throw new VmaCliException("the token is empty");
    }
}
