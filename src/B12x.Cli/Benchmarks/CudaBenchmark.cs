using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.Backends.Cuda;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// <c>b12x bench --device cuda</c>: per shape and token count, the native time of one layer call (CUDA events around
/// the call, median of many, each after a 256 MB write that evicts the L2: weights come from DRAM), the time per call
/// through the C# API (warm, host work included), achieved TB/s and TFLOP/s, the share of the physical lower bound,
/// the strategy chosen (Auto, or the one --strategy forces), for decode sizes (T ≤ 8) the native time of the same call replayed as one CUDA graph (what
/// <see cref="MoePlan"/> does), and the TorchSharp baseline (<see cref="TorchSharpBaseline"/>) measured in the same process.
/// Writes a markdown table, optionally a CSV (row by row, so an interrupted run keeps its rows) and a PNG plot.
/// </summary>
internal static class CudaBenchmark
{
    /// <summary>Bytes written between timed calls: five times the 50-60 MB L2 of an H100/H200.</summary>
    private const long FlushBytes = 256L << 20;

    /// <summary>Baseline calls timed per row (each can take tens of milliseconds).</summary>
    private const int BaselineIterations = 3;

    public static int Run(
        TextWriter output, IReadOnlyList<BenchmarkShape> shapes, IReadOnlyList<int> tokenCounts, int iterations, int warmup,
        long seed, FileInfo? csvFile, FileInfo? plotFile, KernelStrategy strategy)
    {
        var device = new Device(DeviceType.CUDA, 0);
        string gpu = CudaSupport.DeviceName();
        Roofline roofline = Roofline.ForGpu(gpu);
        output.WriteLine("# b12x bench (CUDA)");
        output.WriteLine();
        output.WriteLine($"GPU: {gpu}; native library {CudaSupport.NativeLibraryPath}; {DateTime.UtcNow:yyyy-MM-dd} UTC.");
        output.WriteLine($"Native time: CUDA events around one call, median of {iterations}, each after a {FlushBytes >> 20} MB write (cold L2). " +
                         $"C# time: warm, per call through B12xOps.FusedMoe, host work included. Bound: {roofline.Source}.");
        output.WriteLine();
        output.WriteLine("| shape | T | strategy | native µs | graph µs | C# µs/call | TB/s | TFLOP/s | bound µs | % of bound | TorchSharp µs | speed-up |");
        output.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        StreamWriter? csv = csvFile is null ? null : new StreamWriter(csvFile.FullName);
        csv?.WriteLine("gpu,shape,tokens,strategy,native_us,graph_us,csharp_us,tb_per_s,tflop_per_s,bound_us,pct_of_bound,torchsharp_us,speedup");
        var series = new List<LatencySeries>();
        try
        {
            using Tensor flush = empty(FlushBytes, ScalarType.Byte, device);
            foreach (BenchmarkShape shape in shapes)
            {
                var measured = new List<(int, double)>();
                var bounds = new List<(int, double)>();
                using SyntheticMoeLayer layer = SyntheticMoeLayer.Create(shape, seed, device);
                using TorchSharpBaseline baseline = TorchSharpBaseline.Create(layer, device);
                foreach (int t in tokenCounts)
                {
                    using BenchmarkInputs inputs = BenchmarkInputs.Create(shape, t, seed + t, device);
                    Row row = Measure(layer, baseline, inputs, flush, iterations, warmup, device, roofline, strategy);
                    measured.Add((t, row.NativeMicros));
                    bounds.Add((t, row.BoundMicros));
                    output.WriteLine(FormattableString.Invariant(
                        $"| {shape.Name} | {t} | {row.Strategy.ToString().ToLowerInvariant()} | {row.NativeMicros:F1} | {Optional(row.GraphMicros)} | {row.CSharpMicros:F1} | {row.TeraBytesPerSecond:F2} | {row.TeraFlops:F1} | {row.BoundMicros:F1} | {100 * row.BoundMicros / row.NativeMicros:F0} % | {row.BaselineMicros:F0} | {row.BaselineMicros / row.CSharpMicros:F1}× |"));
                    csv?.WriteLine(FormattableString.Invariant(
                        $"{gpu},{shape.Name},{t},{row.Strategy.ToString().ToLowerInvariant()},{row.NativeMicros:F2},{Optional(row.GraphMicros)},{row.CSharpMicros:F2},{row.TeraBytesPerSecond:F3},{row.TeraFlops:F2},{row.BoundMicros:F2},{100 * row.BoundMicros / row.NativeMicros:F1},{row.BaselineMicros:F1},{row.BaselineMicros / row.CSharpMicros:F2}"));
                    csv?.Flush();
                }
                series.Add(new LatencySeries(shape.Name, measured, bounds));
            }
        }
        finally
        {
            csv?.Dispose();
        }
        if (plotFile is not null)
        {
            LatencyPlot.Write(plotFile.FullName, $"b12x fused MoE on {gpu}: latency (solid) and lower bound (dashed)", series);
            output.WriteLine();
            output.WriteLine($"Plot written to {plotFile.FullName}.");
        }
        return 0;
    }

    /// <summary>Largest token count whose graph replay is timed (decode sizes, where launch overhead matters).</summary>
    private const int GraphMaxTokens = 8;

    private static string Optional(double? micros) => micros is { } m ? m.ToString("F1", CultureInfo.InvariantCulture) : "";

    private readonly record struct Row(
        KernelStrategy Strategy, double NativeMicros, double? GraphMicros, double CSharpMicros, double TeraBytesPerSecond, double TeraFlops,
        double BoundMicros, double BaselineMicros);

    private static Row Measure(
        SyntheticMoeLayer layer, TorchSharpBaseline baseline, BenchmarkInputs inputs, Tensor flush, int iterations, int warmup,
        Device device, Roofline roofline, KernelStrategy requested)
    {
        BenchmarkShape shape = layer.Shape;
        int tokens = (int)inputs.X.shape[0];
        double native;
        double? graph = null;
        KernelStrategy strategy;
        using (var scope = NewDisposeScope())
        {
            Tensor output = empty(new long[] { tokens, shape.Hidden }, ScalarType.BFloat16, device);
            using MoeProblem problem = MoeProblem.Create(
                inputs.X, layer.W1, layer.W1Scales, layer.W2, layer.W2Scales, inputs.Ids, inputs.Weights, shape.Experts,
                shape.TopK, layer.W1Alpha, layer.W2Alpha, layer.Options(device: ComputeDevice.Cuda, strategy: requested));
            strategy = CudaMoeBackend.ResolvedStrategy(problem, output);
            native = CudaMoeBackend.TimeNative(problem, output, flush, iterations);
            if (tokens <= GraphMaxTokens)
            {
                graph = CudaMoeBackend.TimeGraph(problem, output, flush, iterations);
            }
        }

        for (int i = 0; i < warmup; i++)
        {
            layer.Run(inputs, null, ComputeDevice.Cuda, requested).Dispose();
        }
        cuda.synchronize(device);
        var clock = Stopwatch.StartNew();
        for (int i = 0; i < iterations; i++)
        {
            layer.Run(inputs, null, ComputeDevice.Cuda, requested).Dispose();
        }
        cuda.synchronize(device);
        double csharp = clock.Elapsed.TotalMicroseconds / iterations;

        baseline.Run(inputs).Dispose();
        cuda.synchronize(device);
        var baselineTimes = new double[BaselineIterations];
        for (int i = 0; i < BaselineIterations; i++)
        {
            clock.Restart();
            baseline.Run(inputs).Dispose();
            cuda.synchronize(device);
            baselineTimes[i] = clock.Elapsed.TotalMicroseconds;
        }
        Array.Sort(baselineTimes);

        int touched = inputs.Ids.cpu().data<int>().ToArray().Distinct().Count();
        double bytes = Roofline.TouchedBytes(shape, touched), flops = Roofline.Flops(shape, tokens);
        return new Row(strategy, native, graph, csharp, bytes / native / 1e6, flops / native / 1e6, roofline.BoundMicros(bytes, flops),
            baselineTimes[BaselineIterations / 2]);
    }
}
