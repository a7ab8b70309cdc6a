using System;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// The physical lower bound of one layer call (docs/performance.md, "Physical limits"): max(touched weight bytes /
/// HBM bandwidth, bf16-equivalent FLOPs / dense bf16 peak). NVFP4 weights cost 0.5625 bytes per element (4 bits plus
/// one E4M3 scale per 16). Datasheet rates: H100 SXM 3.35 TB/s, H200 4.8 TB/s, both 989 TFLOP/s dense bf16.
/// </summary>
internal readonly record struct Roofline(double BytesPerSecond, double FlopsPerSecond, string Source)
{
    public const double BytesPerWeight = 0.5625;

    /// <summary>The datasheet rates of the GPU whose name is given (H200 recognised by name, else H100).</summary>
    public static Roofline ForGpu(string name) => name.Contains("H200", StringComparison.OrdinalIgnoreCase)
        ? new Roofline(4.8e12, 989e12, "H200 datasheet: 4.8 TB/s, 989 TFLOP/s")
        : new Roofline(3.35e12, 989e12, "H100 SXM datasheet: 3.35 TB/s, 989 TFLOP/s");

    /// <summary>Weight bytes of the experts a call touches.</summary>
    public static double TouchedBytes(BenchmarkShape shape, int touchedExperts) =>
        touchedExperts * (double)(W1Rows(shape) + shape.Intermediate) * shape.Hidden * BytesPerWeight;

    /// <summary>bf16-equivalent FLOPs: 2·T·K·(W1 rows + I)·H.</summary>
    public static double Flops(BenchmarkShape shape, int tokens) =>
        2.0 * tokens * shape.TopK * (W1Rows(shape) + shape.Intermediate) * shape.Hidden;

    /// <summary>The lower bound in microseconds.</summary>
    public double BoundMicros(double bytes, double flops) => Math.Max(bytes / BytesPerSecond, flops / FlopsPerSecond) * 1e6;

    private static int W1Rows(BenchmarkShape shape) =>
        shape.Activation == Microsoft.ML.B12x.MoeActivation.Silu ? 2 * shape.Intermediate : shape.Intermediate;
}
