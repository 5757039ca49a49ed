using System.Text;
using System.Text.Json;
using MigrateKit.Modules.Volume.Ossea;
using MigrateKit.Tests.Support.Ossea;
using MigrateKit.Tests.Support;

namespace MigrateKit.Tests.Volume.Ossea;

[Parallelizable(ParallelScope.All)]
[Category(TestKind.Unit)]
public sealed class OsseaSignatureTests
{
    public sealed record Vector(string Label, Dictionary<string, string> Parameters, string StringToSign, string Signature)
    {
        public override string ToString() => Label;
    }

    private static readonly Lazy<(string Secret, IReadOnlyList<Vector> Cases)> Loaded = new(Load);

    public static IEnumerable<Vector> Vectors() => Loaded.Value.Cases;

    [Test]
    public void TheFileHasAllFiveVectors()
        => Assert.That(Loaded.Value.Cases, Has.Count.EqualTo(5));

    [TestCaseSource(nameof(Vectors))]
    public void ClientSignerReproducesTheVector(Vector vector)
    {
        var secret = Encoding.UTF8.GetBytes(Loaded.Value.Secret);
        Assert.Multiple(() =>
        {
            Assert.That(OsseaRequestSigner.BuildStringToSign(vector.Parameters), Is.EqualTo(vector.StringToSign));
            Assert.That(OsseaRequestSigner.Sign(vector.Parameters, secret), Is.EqualTo(vector.Signature));
        });
    }

    [TestCaseSource(nameof(Vectors))]
    public void EmulatorVerifierReproducesTheVector(Vector vector)
    {
        Assert.Multiple(() =>
        {
            Assert.That(OsseaEmulatorSignature.StringToSign(vector.Parameters), Is.EqualTo(vector.StringToSign));
            Assert.That(OsseaEmulatorSignature.Compute(vector.Parameters, Loaded.Value.Secret), Is.EqualTo(vector.Signature));
            Assert.That(OsseaEmulatorSignature.Matches(vector.Parameters, Loaded.Value.Secret, vector.Signature), Is.True);
            Assert.That(OsseaEmulatorSignature.Matches(vector.Parameters, Loaded.Value.Secret, vector.Signature[..^2] + "A="), Is.False);
        });
    }

    [TestCase("a b*c~d/é!()'", "a%20b*c%7Ed%2F%C3%A9%21%28%29%27")] // java.net.URLEncoder, verified with Java 17 (fixture README)
    [TestCase("George+Ringo", "George%2BRingo")]
    [TestCase("AZaz09.-*_", "AZaz09.-*_")]
    [TestCase("2030-01-01T00:00:00Z", "2030-01-01T00%3A00%3A00Z")]
    [TestCase("details[0].key", "details%5B0%5D.key")]
    [TestCase("😀", "%F0%9F%98%80")]
    public void EncoderFollowsJavaUrlEncoder(string value, string expected)
    {
        Assert.That(OsseaRequestSigner.Encode(value), Is.EqualTo(expected));
        Assert.That(OsseaEmulatorSignature.JavaEncode(value), Is.EqualTo(expected));
    }

    [Test]
    public void NamesSortOrdinallyAndStayUnencoded()
    {
        var parameters = new Dictionary<string, string>
        {
            ["details[0].cpuNumber"] = "4", ["apiKey"] = "K", ["command"] = "deployVirtualMachine", ["Zeta"] = "z",
        };

        // Ordinal: 'Z' (0x5A) sorts before 'a'; names keep their brackets; everything is lowercased last.
        Assert.That(OsseaRequestSigner.BuildStringToSign(parameters),
            Is.EqualTo("zeta=z&apikey=k&command=deployvirtualmachine&details[0].cpunumber=4"));
    }

    [Test]
    public void SignatureParameterIsNotSigned()
    {
        var parameters = new Dictionary<string, string> { ["command"] = "listZones", ["signature"] = "x", ["apiKey"] = "k" };
        Assert.That(OsseaRequestSigner.BuildStringToSign(parameters), Is.EqualTo("apikey=k&command=listzones"));
    }

    private static (string, IReadOnlyList<Vector>) Load()
    {
        using var document = OsseaFixtures.Parse("signature_test_vectors.json");
        var root = document.RootElement;
        var cases = new List<Vector>();
        void AddCases(JsonElement array, string prefix)
        {
            var i = 0;
            foreach (var item in array.EnumerateArray())
            {
                var parameters = item.GetProperty("params").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
                cases.Add(new Vector($"{prefix}{i++}:{parameters["command"]}", parameters,
                    item.GetProperty("string_to_sign").GetString()!, item.GetProperty("signature").GetString()!));
            }
        }

        AddCases(root.GetProperty("cases"), "upstream");
        AddCases(root.GetProperty("extra_cases_computed_here_not_from_upstream").GetProperty("cases"), "extra");
        return (root.GetProperty("secret_key").GetString()!, cases);
    }
}
