using System;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// The fused NVFP4 Mixture-of-Experts layer as a TorchSharp module, for models written with TorchSharp. Its weights
/// are buffers named as in a layer file (<c>w1_weight</c>, <c>w1_weight_sf</c>, <c>w2_weight</c>, <c>w2_weight_sf</c>,
/// <c>w1_alpha</c>, <c>w2_alpha</c>, and <c>fc2_input_scale</c>, <c>input_global_scale</c> when present), so
/// <c>module.to(device)</c> moves them and <c>state_dict()</c> lists them; <c>forward</c> calls
/// <see cref="B12xOps.FusedMoe"/>. Create it with <see cref="Create"/>.
/// </summary>
/// <remarks>
/// Shapes: x bfloat16 [T, H] → bfloat16 [T, H]; routing either int32/int64 ids [T, K] with float32 weights [T, K],
/// or float32 router logits [T, E] routed by the module's <see cref="RouterKind"/>. The buffers share storage with
/// the <see cref="MoeWeights"/> they were made from (no copy) but are separate handles: disposing the module and the
/// weights are independent. Converting the module's dtype (<c>module.to(ScalarType)</c>) breaks the float32 scales.
/// </remarks>
public sealed class FusedMoeLayer : nn.Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly FusedMoeOptions _options;
    private readonly MoeRouter? _router;

    private FusedMoeLayer(MoeWeights weights, RouterKind router, bool normalizeTopKWeights, int? topK, KernelStrategy strategy)
        : base(nameof(FusedMoeLayer))
    {
        Config = weights.Config;
        register_buffer(LayerFile.W1WeightName, weights.W1Weight.alias());
        register_buffer(LayerFile.W1WeightSfName, weights.W1WeightSf.alias());
        register_buffer(LayerFile.W2WeightName, weights.W2Weight.alias());
        register_buffer(LayerFile.W2WeightSfName, weights.W2WeightSf.alias());
        register_buffer(LayerFile.W1AlphaName, weights.W1Alpha.alias());
        register_buffer(LayerFile.W2AlphaName, weights.W2Alpha.alias());
        if (weights.Fc2InputScale is not null)
        {
            register_buffer(LayerFile.Fc2InputScaleName, weights.Fc2InputScale.alias());
        }
        if (weights.InputGlobalScale is not null)
        {
            register_buffer(LayerFile.InputGlobalScaleName, weights.InputGlobalScale.alias());
        }
        _options = weights.CreateOptions(strategy) with { Fc2InputScale = null, InputGlobalScale = null };
        int? k = topK ?? Config.TopK;
        _router = k is int value ? new MoeRouter(router, Config.NumExperts, value, normalizeTopKWeights) : null;
    }

    /// <summary>
    /// A module over <paramref name="weights"/> (sharing their storage). <paramref name="router"/>,
    /// <paramref name="normalizeTopKWeights"/> and <paramref name="topK"/> (default: the weights' top_k) serve
    /// <see cref="forward(Tensor, Tensor)"/>; <paramref name="strategy"/> is the CUDA kernel strategy.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An unknown router kind, or K outside [1, E].</exception>
    public static FusedMoeLayer Create(
        MoeWeights weights, RouterKind router = RouterKind.SoftmaxTopK, bool normalizeTopKWeights = true, int? topK = null,
        KernelStrategy strategy = KernelStrategy.Auto)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (!Enum.IsDefined(router))
        {
            throw MoeRouter.UnknownKind(router, nameof(router));
        }
        if (topK is int k && weights.Config.TopK is int inFile && k != inFile)
        {
            throw new ArgumentException($"topK = {k} contradicts the weights, whose layer says top_k = {inFile}.", nameof(topK));
        }
        return new FusedMoeLayer(weights, router, normalizeTopKWeights, topK, strategy);
    }

    /// <summary>The layer's sizes and modes.</summary>
    public MoeLayerConfig Config { get; }

    /// <summary>
    /// Runs the layer with the caller's routing: x bfloat16 [T, H], token_selected_experts int32/int64 [T, K] (global
    /// ids), token_final_scales float32 [T, K] → bfloat16 [T, H], all on the buffers' device.
    /// </summary>
    /// <exception cref="ArgumentException">A tensor violates <see cref="B12xOps.FusedMoe"/>'s contract.</exception>
    public override Tensor forward(Tensor x, Tensor tokenSelectedExperts, Tensor tokenFinalScales)
    {
        TensorChecks.NotNull(tokenSelectedExperts, nameof(tokenSelectedExperts));
        TensorChecks.Rank(tokenSelectedExperts, nameof(tokenSelectedExperts), 2);
        FusedMoeOptions options = _options with
        {
            Fc2InputScale = has_buffer(LayerFile.Fc2InputScaleName) ? Buffer(LayerFile.Fc2InputScaleName) : null,
            InputGlobalScale = has_buffer(LayerFile.InputGlobalScaleName) ? Buffer(LayerFile.InputGlobalScaleName) : null,
        };
        return B12xOps.FusedMoe(
            x, Buffer(LayerFile.W1WeightName), Buffer(LayerFile.W1WeightSfName), Buffer(LayerFile.W2WeightName),
            Buffer(LayerFile.W2WeightSfName), tokenSelectedExperts, tokenFinalScales, Config.NumExperts,
            checked((int)tokenSelectedExperts.shape[1]), Buffer(LayerFile.W1AlphaName), Buffer(LayerFile.W2AlphaName), options);
    }

    /// <summary>
    /// Runs the layer routed by the module's router: x bfloat16 [T, H], router logits float32 [T, E] → bfloat16 [T, H].
    /// Routing runs on the host (the logits are copied there) so that every device routes identically; the ids and
    /// weights then go to x's device.
    /// </summary>
    /// <exception cref="ArgumentException">Logits of the wrong dtype or shape.</exception>
    /// <exception cref="InvalidOperationException">K is unknown (neither the weights nor <see cref="Create"/> gave it).</exception>
    public Tensor forward(Tensor x, Tensor routerLogits)
    {
        TensorChecks.NotNull(x, nameof(x));
        TensorChecks.NotNull(routerLogits, nameof(routerLogits));
        MoeRouter router = _router ?? throw new InvalidOperationException(
            "This module has no K for its router: the weights do not say top_k; pass topK to FusedMoeLayer.Create.");
        TensorChecks.Dtype(routerLogits, nameof(routerLogits), ScalarType.Float32);
        TensorChecks.Rank(routerLogits, nameof(routerLogits), 2);
        long tokens = routerLogits.shape[0];
        TensorChecks.Shape(routerLogits, nameof(routerLogits), tokens, Config.NumExperts);
        using DisposeScope scope = NewDisposeScope();
        Tensor hostLogits = routerLogits.cpu().contiguous();
        Tensor ids = empty(new long[] { tokens, router.TopK }, ScalarType.Int32);
        Tensor weights = empty(new long[] { tokens, router.TopK }, ScalarType.Float32);
        router.Route(TensorPointers.HostSpan<float>(hostLogits), TensorPointers.HostSpanMutable<int>(ids), TensorPointers.HostSpanMutable<float>(weights));
        return forward(x, ids.to(x.device), weights.to(x.device)).MoveToOuterDisposeScope();
    }

    /// <summary>The registered buffer <paramref name="name"/> (the current one, after any <c>module.to(device)</c>).</summary>
    private Tensor Buffer(string name) =>
        get_buffer(name) ?? throw new InvalidOperationException($"The buffer '{name}' of {nameof(FusedMoeLayer)} was removed.");
}
