using System;
using System.Collections.Generic;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// Hidden states (standard normal, bf16 [T, H]) and routing (uniform random top-k without repeats, weights
/// normalised to sum 1 per token) for one token count, from a fixed seed.
/// </summary>
internal sealed class BenchmarkInputs : IDisposable
{
    private BenchmarkInputs(Tensor x, Tensor ids, Tensor weights)
    {
        X = x;
        Ids = ids;
        Weights = weights;
    }

    /// <summary>bfloat16 [T, H].</summary>
    public Tensor X { get; }

    /// <summary>int32 [T, K].</summary>
    public Tensor Ids { get; }

    /// <summary>float32 [T, K].</summary>
    public Tensor Weights { get; }

    public static BenchmarkInputs Create(BenchmarkShape shape, int tokens, long seed, Device device)
    {
        var random = new Random(unchecked((int)seed));
        var ids = new int[tokens * shape.TopK];
        var weights = new float[tokens * shape.TopK];
        var chosen = new HashSet<int>();
        for (int t = 0; t < tokens; t++)
        {
            chosen.Clear();
            float sum = 0;
            for (int k = 0; k < shape.TopK; k++)
            {
                int e;
                do
                {
                    e = random.Next(shape.Experts);
                }
                while (!chosen.Add(e));
                ids[t * shape.TopK + k] = e;
                weights[t * shape.TopK + k] = (float)(0.1 + random.NextDouble());
                sum += weights[t * shape.TopK + k];
            }
            for (int k = 0; k < shape.TopK; k++)
            {
                weights[t * shape.TopK + k] /= sum;
            }
        }
        using var scope = NewDisposeScope();
        using var generator = new Generator((ulong)seed, CPU);
        Tensor x = randn(new long[] { tokens, shape.Hidden }, generator: generator).to(ScalarType.BFloat16);
        return new BenchmarkInputs(
            x.to(device).MoveToOuterDisposeScope(),
            tensor(ids, new long[] { tokens, shape.TopK }).to(device).MoveToOuterDisposeScope(),
            tensor(weights, new long[] { tokens, shape.TopK }).to(device).MoveToOuterDisposeScope());
    }

    public void Dispose()
    {
        X.Dispose();
        Ids.Dispose();
        Weights.Dispose();
    }
}
