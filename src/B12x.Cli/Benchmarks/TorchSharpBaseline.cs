using System;
using System.Collections.Generic;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Cli.Benchmarks;

/// <summary>
/// What a .NET user writes without this library (docs/performance.md): the layer's weights dequantised to bf16 once
/// up front, then per call and per expert with tokens a gather of its tokens, two bf16 matmuls, the activation and a
/// weighted scatter-add into the output, all as TorchSharp ops. Every expert gets its own copy of its weights, so the
/// memory traffic is the real layer's even though the synthetic layer repeats a few distinct experts.
/// </summary>
internal sealed class TorchSharpBaseline : IDisposable
{
    private readonly BenchmarkShape _shape;
    private readonly Tensor[] _w1; // bf16 [W1 rows, H] per expert, rows [up; gate]
    private readonly Tensor[] _w2; // bf16 [H, I] per expert

    private TorchSharpBaseline(BenchmarkShape shape, Tensor[] w1, Tensor[] w2)
    {
        _shape = shape;
        _w1 = w1;
        _w2 = w2;
    }

    /// <summary>Dequantises the layer's weights (on the CPU, one distinct expert at a time) onto <paramref name="device"/>.</summary>
    public static TorchSharpBaseline Create(SyntheticMoeLayer layer, Device device)
    {
        BenchmarkShape shape = layer.Shape;
        int w1Rows = shape.Activation == MoeActivation.Silu ? 2 * shape.Intermediate : shape.Intermediate;
        int distinct = Math.Min(shape.Experts, SyntheticMoeLayer.DistinctExperts);
        var w1 = new Tensor[shape.Experts];
        var w2 = new Tensor[shape.Experts];
        using Tensor w1Alpha = layer.W1Alpha.cpu(), w2Alpha = layer.W2Alpha.cpu(), fc2Scale = layer.Fc2InputScale.cpu();
        for (int d = 0; d < distinct; d++)
        {
            using var scope = NewDisposeScope();
            Tensor first = Dequantize(layer.W1[d], layer.W1Scales[d], w1Rows, shape.Hidden, w1Alpha[d].item<float>(), device);
            Tensor second = Dequantize(layer.W2[d], layer.W2Scales[d], shape.Hidden, shape.Intermediate,
                w2Alpha[d].item<float>() / fc2Scale[d].item<float>(), device);
            for (int e = d; e < shape.Experts; e += distinct)
            {
                w1[e] = first.clone().MoveToOuterDisposeScope();
                w2[e] = second.clone().MoveToOuterDisposeScope();
            }
        }
        return new TorchSharpBaseline(shape, w1, w2);
    }

    /// <summary>One layer call: returns bf16 [T, H] on the inputs' device.</summary>
    public Tensor Run(BenchmarkInputs inputs)
    {
        using var scope = NewDisposeScope();
        int tokens = (int)inputs.X.shape[0], k = _shape.TopK, i = _shape.Intermediate;
        int[] ids = inputs.Ids.cpu().data<int>().ToArray();
        var routes = new Dictionary<int, (List<long> Tokens, List<int> Slots)>();
        for (int t = 0; t < tokens; t++)
        {
            for (int j = 0; j < k; j++)
            {
                int e = ids[t * k + j];
                if (!routes.TryGetValue(e, out var list))
                {
                    list = (new List<long>(), new List<int>());
                    routes[e] = list;
                }
                list.Tokens.Add(t);
                list.Slots.Add(t * k + j);
            }
        }
        Device device = inputs.X.device;
        Tensor output = zeros(new long[] { tokens, _shape.Hidden }, ScalarType.BFloat16, device);
        Tensor flatWeights = inputs.Weights.reshape(-1);
        foreach (var (e, list) in routes)
        {
            Tensor index = tensor(list.Tokens.ToArray(), device: device);
            Tensor slots = tensor(Array.ConvertAll(list.Slots.ToArray(), s => (long)s), device: device);
            Tensor h = inputs.X.index_select(0, index).matmul(_w1[e].t());
            Tensor a = _shape.Activation == MoeActivation.Silu
                ? nn.functional.silu(h.narrow(1, i, i)) * h.narrow(1, 0, i)
                : nn.functional.relu(h).square();
            Tensor y = a.matmul(_w2[e].t()) * flatWeights.index_select(0, slots).unsqueeze(1).to(ScalarType.BFloat16);
            output.index_add_(0, index, y, 1);
        }
        return output.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        foreach (Tensor t in _w1)
        {
            t.Dispose();
        }
        foreach (Tensor t in _w2)
        {
            t.Dispose();
        }
    }

    private static Tensor Dequantize(Tensor codes, Tensor swizzledScales, int rows, int columns, float globalScale, Device device)
    {
        Tensor linear = Nvfp4Quantizer.UnswizzleScales(swizzledScales, rows, columns);
        Tensor weights = Nvfp4Quantizer.DequantizeWeights(codes.cpu().unsqueeze(0), linear, tensor(new[] { globalScale }));
        return weights[0].to(ScalarType.BFloat16).to(device);
    }
}
