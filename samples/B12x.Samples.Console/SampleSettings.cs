using Microsoft.ML.B12x;

namespace B12x.Samples.Console;

/// <summary>What one run of the sample does (the command line, parsed).</summary>
internal sealed record SampleSettings(
    string? LayerPath,
    string? InputsPath,
    string? OutputPath,
    string OutputDirectory,
    int Tokens,
    int BatchSize,
    ComputeDevice Device,
    RouterKind Router,
    int Seed);
