using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.B12x;

namespace B12x.Cli.Benchmarks;

/// <summary>One MoE layer shape of the benchmark table (docs/performance.md, "Benchmark shapes").</summary>
internal sealed record BenchmarkShape(string Name, int Hidden, int Intermediate, int Experts, int TopK, MoeActivation Activation)
{
    /// <summary>The named shapes, in the order of the table.</summary>
    public static IReadOnlyList<BenchmarkShape> All { get; } = new[]
    {
        new BenchmarkShape("qwen3-30b-a3b", 2048, 768, 128, 8, MoeActivation.Silu),
        new BenchmarkShape("qwen3-235b-a22b", 4096, 1536, 128, 8, MoeActivation.Silu),
        new BenchmarkShape("deepseek-v3", 7168, 2048, 256, 8, MoeActivation.Silu),
        new BenchmarkShape("gpt-oss-120b", 2880, 2880, 128, 4, MoeActivation.Silu),
        new BenchmarkShape("mixtral-8x7b", 4096, 14336, 8, 2, MoeActivation.Silu),
        new BenchmarkShape("nemotron-3-nano", 2688, 1856, 128, 6, MoeActivation.Relu2),
    };

    /// <summary>Resolves a comma-separated list of names ("all" for every shape).</summary>
    /// <exception cref="ArgumentException">An unknown name.</exception>
    public static IReadOnlyList<BenchmarkShape> Parse(string names)
    {
        if (names.Trim() == "all")
        {
            return All;
        }
        var shapes = new List<BenchmarkShape>();
        foreach (string name in names.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            BenchmarkShape? shape = All.FirstOrDefault(s => s.Name == name);
            shapes.Add(shape ?? throw new ArgumentException(
                $"Unknown shape '{name}'; expected 'all' or a comma-separated list of: {string.Join(", ", All.Select(s => s.Name))}.", "--shapes"));
        }
        return shapes;
    }
}
