using System;
using System.Collections.Generic;
using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Runtime.InteropServices;
using System.Text;
using B12x.Cli.Benchmarks;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.Backends.Cpu;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Commands;

/// <summary>
/// <c>b12x bench</c>: times the fused MoE layer on the named shapes of docs/performance.md at given token counts
/// (synthetic weights from the quantiser, fixed seed) and prints a markdown table of median times. A benchmark
/// prints numbers; it asserts nothing (machines are shared and noisy).
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var device = new Option<string>("--device") { Description = "Where to run: cpu, cuda or auto (cuda when available).", DefaultValueFactory = _ => "cpu" };
        device.AcceptOnlyFromAmong("cpu", "cuda", "auto");
        var shapes = new Option<string>("--shapes")
        {
            Description = $"Comma-separated shape names or 'all': {string.Join(", ", BenchmarkShape.All.Select(s => s.Name))}.",
            DefaultValueFactory = _ => "qwen3-30b-a3b",
        };
        var tokens = new Option<string>("--tokens") { Description = "Comma-separated token counts.", DefaultValueFactory = _ => "1,8,64" };
        var iterations = new Option<int>("--iterations") { Description = "Timed calls per row (the median is reported).", DefaultValueFactory = _ => 10 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed calls before the timed ones.", DefaultValueFactory = _ => 2 };
        var threads = new Option<int?>("--threads") { Description = "CPU backend threads (default: one per core)." };
        var seed = new Option<long>("--seed") { Description = "Seed of the synthetic weights and inputs.", DefaultValueFactory = _ => 1 };
        var csv = new Option<FileInfo?>("--csv") { Description = "Also write the rows to this CSV file." };
        var plot = new Option<FileInfo?>("--plot") { Description = "CUDA: also write a PNG plot of latency and lower bound vs tokens." };
        SpellingOption<KernelStrategy> strategy = CommonOptions.Spelling(
            "--strategy", "CUDA kernel strategy for every row: auto (the default cut-overs), micro, static, dynamic (the CPU backend ignores it).",
            "auto", ModeSpellings.ParseStrategy);

        var command = new Command("bench", "Time the fused MoE layer on named model shapes with synthetic NVFP4 weights.")
        {
            device, shapes, tokens, iterations, warmup, threads, seed, csv, plot, strategy,
        };
        command.SetAction(parse =>
        {
            try
            {
                return Run(
                    parse.GetValue(device)!, BenchmarkShape.Parse(parse.GetValue(shapes)!), ParseTokens(parse.GetValue(tokens)!),
                    Positive(parse.GetValue(iterations), "--iterations"), NonNegative(parse.GetValue(warmup), "--warmup"),
                    parse.GetValue(threads), parse.GetValue(seed), parse.GetValue(csv), parse.GetValue(plot), strategy.GetValue(parse));
            }
            catch (ArgumentException error)
            {
                parse.InvocationConfiguration.Error.WriteLine($"b12x bench: {error.Message}");
                return 2;
            }
            catch (NotSupportedException error)
            {
                parse.InvocationConfiguration.Error.WriteLine($"b12x bench: {error.Message}");
                return 3;
            }
        });
        return command;
    }

    private static int Run(
        string deviceName, IReadOnlyList<BenchmarkShape> shapes, IReadOnlyList<int> tokenCounts, int iterations, int warmup,
        int? threads, long seed, FileInfo? csvFile, FileInfo? plotFile, KernelStrategy strategy)
    {
        if (threads is < 1)
        {
            throw new ArgumentException($"--threads must be at least 1; got {threads}.");
        }
        bool cuda = deviceName == "cuda" || (deviceName == "auto" && CudaSupport.IsAvailable);
        if (cuda)
        {
            if (!CudaSupport.IsAvailable)
            {
                throw new NotSupportedException("--device cuda: " + CudaSupport.UnavailableReason);
            }
            return CudaBenchmark.Run(Console.Out, shapes, tokenCounts, iterations, warmup, seed, csvFile, plotFile, strategy);
        }
        Device device = CPU;
        const string backend = "cpu";

        Console.WriteLine("# b12x bench");
        Console.WriteLine();
        Console.WriteLine($"Machine: {MachineDescription()}; CPU kernels {CpuVectorIsaSelector.Best}, threads {threads?.ToString(CultureInfo.InvariantCulture) ?? "one per core"}.");
        Console.WriteLine($"Device: {device}; {warmup} warm-up and {iterations} timed calls per row; seed {seed}; NVFP4 weights, silu/relu2 per shape.");
        Console.WriteLine();
        Console.WriteLine("| shape | T | median ms | min ms | backend |");
        Console.WriteLine("|---|---|---|---|---|");
        var csv = new StringBuilder("shape,tokens,median_ms,min_ms,iterations,backend\n");
        foreach (BenchmarkShape shape in shapes)
        {
            using SyntheticMoeLayer layer = SyntheticMoeLayer.Create(shape, seed, device);
            foreach (int t in tokenCounts)
            {
                using BenchmarkInputs inputs = BenchmarkInputs.Create(shape, t, seed + t, device);
                double[] times = Time(layer, inputs, threads, warmup, iterations);
                Array.Sort(times);
                double median = times.Length % 2 == 1 ? times[times.Length / 2] : (times[times.Length / 2 - 1] + times[times.Length / 2]) / 2;
                Console.WriteLine(FormattableString.Invariant($"| {shape.Name} | {t} | {median:F2} | {times[0]:F2} | {backend} |"));
                csv.Append(FormattableString.Invariant($"{shape.Name},{t},{median:F4},{times[0]:F4},{iterations},{backend}\n"));
            }
        }
        if (csvFile is not null)
        {
            File.WriteAllText(csvFile.FullName, csv.ToString());
            Console.WriteLine();
            Console.WriteLine($"CSV written to {csvFile.FullName}.");
        }
        return 0;
    }

    /// <summary>Milliseconds of each timed call on the CPU backend.</summary>
    private static double[] Time(SyntheticMoeLayer layer, BenchmarkInputs inputs, int? threads, int warmup, int iterations)
    {
        var times = new double[iterations];
        for (int i = -warmup; i < iterations; i++)
        {
            using var scope = NewDisposeScope();
            var clock = Stopwatch.StartNew();
            layer.Run(inputs, threads, ComputeDevice.Cpu);
            if (i >= 0)
            {
                times[i] = clock.Elapsed.TotalMilliseconds;
            }
        }
        return times;
    }

    private static IReadOnlyList<int> ParseTokens(string text)
    {
        var counts = new List<int>();
        foreach (string part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int count) || count < 1)
            {
                throw new ArgumentException($"--tokens must be positive integers separated by commas; got '{part}'.");
            }
            counts.Add(count);
        }
        return counts.Count > 0 ? counts : throw new ArgumentException("--tokens must name at least one token count.");
    }

    private static int Positive(int value, string name) =>
        value >= 1 ? value : throw new ArgumentException($"{name} must be at least 1; got {value}.");

    private static int NonNegative(int value, string name) =>
        value >= 0 ? value : throw new ArgumentException($"{name} must be at least 0; got {value}.");

    /// <summary>CPU model (from /proc/cpuinfo where there is one), logical cores, OS and runtime.</summary>
    private static string MachineDescription()
    {
        string cpu = RuntimeInformation.ProcessArchitecture.ToString();
        const string cpuInfo = "/proc/cpuinfo";
        if (File.Exists(cpuInfo))
        {
            string? model = File.ReadLines(cpuInfo).FirstOrDefault(line => line.StartsWith("model name", StringComparison.Ordinal));
            if (model is not null)
            {
                cpu = model[(model.IndexOf(':') + 1)..].Trim();
            }
        }
        return $"{cpu}, {Environment.ProcessorCount} logical cores, {RuntimeInformation.OSDescription}, {RuntimeInformation.FrameworkDescription}";
    }
}
