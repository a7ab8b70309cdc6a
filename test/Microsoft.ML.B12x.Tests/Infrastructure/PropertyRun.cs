using System;
using System.Globalization;
using Microsoft.VisualStudio.TestTools.UnitTesting;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>
/// The case count and seed of one property test or fuzzer. CI runs a fixed number of cases from a fixed seed;
/// <c>B12X_PROPERTY_CASES=N</c> runs N cases instead and <c>B12X_PROPERTY_SEED=S</c> starts from another seed (both
/// apply to every property test and fuzzer). Case i draws everything from its own seed <see cref="CaseSeed"/>, so a
/// failure names the case and seed that reproduce it. The count and the seed are written to the test's output.
/// </summary>
internal sealed class PropertyRun
{
    public const string CasesVariable = "B12X_PROPERTY_CASES";
    public const string SeedVariable = "B12X_PROPERTY_SEED";

    private PropertyRun(string name, int cases, int seed)
    {
        Name = name;
        Cases = cases;
        Seed = seed;
    }

    public string Name { get; }

    public int Cases { get; }

    public int Seed { get; }

    /// <summary>Reads the environment and writes "NAME: N cases, seed S" to the test's output.</summary>
    public static PropertyRun Start(TestContext context, string name, int ciCases, int ciSeed)
    {
        int cases = Read(CasesVariable) ?? ciCases;
        int seed = Read(SeedVariable) ?? ciSeed;
        Assert.IsGreaterThanOrEqualTo(1, cases, $"{CasesVariable} must be at least 1");
        context.WriteLine($"{name}: {cases} cases, seed {seed} ({CasesVariable}, {SeedVariable} change them)");
        return new PropertyRun(name, cases, seed);
    }

    /// <summary>The seed of case <paramref name="index"/>: a SplitMix64 step of (seed, index), stable across runtimes.</summary>
    public int CaseSeed(int index)
    {
        ulong z = unchecked(((ulong)(uint)Seed << 32 | (uint)index) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)((z ^ (z >> 31)) & int.MaxValue);
    }

    /// <summary>"NAME case i (seed s of base b)", for assertion messages.</summary>
    public string Describe(int index) => $"{Name} case {index} (case seed {CaseSeed(index)}, {SeedVariable}={Seed})";

    private static int? Read(string variable)
    {
        string? text = Environment.GetEnvironmentVariable(variable);
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }
        if (!int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value))
        {
            Assert.Fail($"{variable} must be an integer; got '{text}'.");
        }
        return value;
    }
}
