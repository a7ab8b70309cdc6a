using System;
using System.Globalization;
using Microsoft.ML.B12x.IO;

namespace Microsoft.ML.B12x;

/// <summary>
/// Everything a <see cref="FusedMoeTransformer"/> needs besides its <see cref="MoeWeights"/>: the columns, how tokens
/// are routed, where and in which batches rows run, and the execution options of <see cref="B12xOps.FusedMoe"/>. The
/// layer's own modes (activation, quantisation mode, scale layout, expert counts) come from the weights, which are
/// authoritative.
/// </summary>
/// <remarks>
/// Route tokens either with columns (<see cref="ExpertIdsColumnName"/> and <see cref="RoutingWeightsColumnName"/>)
/// or with a router (<see cref="RouterLogitsColumnName"/> and <see cref="Router"/>); give exactly one of the two.
/// </remarks>
public sealed record FusedMoeTransformerOptions
{
    /// <summary>Default rows per fused call (a few hundred routed pairs keep the GPU kernels busy without long waits).</summary>
    public const int DefaultBatchSize = 256;

    /// <summary>The output column: a known-size vector of Single of length H (<c>VBuffer&lt;float&gt;</c>), bf16 values widened exactly.</summary>
    public required string OutputColumnName { get; init; }

    /// <summary>
    /// The hidden states: a known-size vector of Single of length H (<c>VBuffer&lt;float&gt;</c>), rounded to bfloat16
    /// (round to nearest, ties to even; NaN stays NaN) before the layer runs.
    /// </summary>
    public required string HiddenStatesColumnName { get; init; }

    /// <summary>Global expert ids per token: a known-size vector of Int32 of length K (<c>VBuffer&lt;int&gt;</c>).</summary>
    public string? ExpertIdsColumnName { get; init; }

    /// <summary>Routing weights per token: a known-size vector of Single of length K, used as given (no renormalisation).</summary>
    public string? RoutingWeightsColumnName { get; init; }

    /// <summary>Router logits per token: a known-size vector of Single of length E, routed by <see cref="Router"/>.</summary>
    public string? RouterLogitsColumnName { get; init; }

    /// <summary>How <see cref="RouterLogitsColumnName"/> is routed.</summary>
    public RouterKind Router { get; init; } = RouterKind.SoftmaxTopK;

    /// <summary>
    /// K, experts per token. Null: the weights' <see cref="MoeLayerConfig.TopK"/>, else (with id columns) the length of
    /// the ids column. A value that contradicts the weights is an error.
    /// </summary>
    public int? TopK { get; init; }

    /// <summary>Whether <see cref="RouterKind.SoftmaxTopK"/> renormalises the K selected probabilities to sum to 1 (Qwen3-MoE's <c>norm_topk_prob</c>).</summary>
    public bool NormalizeTopKWeights { get; init; } = true;

    /// <summary>
    /// Where rows run: <see cref="ComputeDevice.Auto"/> is CUDA when <see cref="CudaSupport.IsAvailable"/> (and the GPU's
    /// architecture has kernels), else the CPU; the choice and its reason are logged to <see cref="B12xOps.Logger"/> and
    /// kept in <see cref="FusedMoeTransformer.DeviceReason"/>. Weights on another device are copied there once.
    /// </summary>
    public ComputeDevice Device { get; init; } = ComputeDevice.Auto;

    /// <summary>Rows read ahead and run in one fused call (≥ 1). Results do not depend on it on the CPU.</summary>
    public int BatchSize { get; init; } = DefaultBatchSize;

    /// <summary>The CUDA kernel strategy (<see cref="FusedMoeOptions.Strategy"/>).</summary>
    public KernelStrategy Strategy { get; init; } = KernelStrategy.Auto;

    /// <summary>See <see cref="FusedMoeOptions.MicroMaxTokens"/>.</summary>
    public int MicroMaxTokens { get; init; } = FusedMoeOptions.Default.MicroMaxTokens;

    /// <summary>See <see cref="FusedMoeOptions.MicroMaxPairs"/>.</summary>
    public int MicroMaxPairs { get; init; } = FusedMoeOptions.Default.MicroMaxPairs;

    /// <summary>See <see cref="FusedMoeOptions.StaticMaxPairs"/>.</summary>
    public int StaticMaxPairs { get; init; } = FusedMoeOptions.Default.StaticMaxPairs;

    /// <summary>See <see cref="FusedMoeOptions.CpuThreads"/>.</summary>
    public int? CpuThreads { get; init; }

    /// <summary>True when tokens are routed by <see cref="Router"/> from <see cref="RouterLogitsColumnName"/>.</summary>
    internal bool UsesRouter => RouterLogitsColumnName is not null;

    /// <summary>
    /// Checks the options against the weights' configuration and returns K, or null when K comes from the ids column.
    /// </summary>
    /// <exception cref="ArgumentException">A missing or contradictory setting; the message names the property.</exception>
    internal int? Validate(MoeLayerConfig config)
    {
        RequireName(OutputColumnName, nameof(OutputColumnName));
        RequireName(HiddenStatesColumnName, nameof(HiddenStatesColumnName));
        bool byColumns = ExpertIdsColumnName is not null || RoutingWeightsColumnName is not null;
        if (byColumns == UsesRouter)
        {
            throw new ArgumentException(
                $"Give either {nameof(ExpertIdsColumnName)} and {nameof(RoutingWeightsColumnName)} (tokens routed by columns) or " +
                $"{nameof(RouterLogitsColumnName)} (tokens routed by {nameof(Router)}), not {(byColumns ? "both" : "neither")}.",
                byColumns ? nameof(RouterLogitsColumnName) : nameof(ExpertIdsColumnName));
        }
        if (byColumns)
        {
            RequireName(ExpertIdsColumnName, nameof(ExpertIdsColumnName));
            RequireName(RoutingWeightsColumnName, nameof(RoutingWeightsColumnName));
        }
        else
        {
            RequireName(RouterLogitsColumnName, nameof(RouterLogitsColumnName));
            if (!Enum.IsDefined(Router))
            {
                throw MoeRouter.UnknownKind(Router, nameof(Router));
            }
        }
        if (!Enum.IsDefined(Device))
        {
            throw new ArgumentOutOfRangeException(nameof(Device), Device, "Expected Auto, Cpu or Cuda.");
        }
        if (BatchSize < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(BatchSize), BatchSize, "BatchSize must be at least 1.");
        }
        if (TopK is < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be at least 1 (or null).");
        }
        if (TopK is int given && config.TopK is int inFile && given != inFile)
        {
            throw new ArgumentException(
                $"TopK = {Text(given)} contradicts the weights, whose layer says top_k = {Text(inFile)}; the weights are authoritative: drop the option.",
                nameof(TopK));
        }
        int? topK = TopK ?? config.TopK;
        if (UsesRouter)
        {
            if (topK is null)
            {
                throw new ArgumentException(
                    $"TopK is required with {nameof(RouterLogitsColumnName)} when the weights do not say top_k.", nameof(TopK));
            }
            if (topK > config.NumExperts)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(TopK), topK, $"The router picks K distinct experts, so K must be at most E = {Text(config.NumExperts)}.");
            }
        }
        return topK;
    }

    /// <summary>The operator options of these settings for <paramref name="weights"/>, running on <paramref name="device"/>.</summary>
    internal FusedMoeOptions OperatorOptions(MoeWeights weights, ComputeDevice device) =>
        weights.CreateOptions(Strategy, device) with
        {
            MicroMaxTokens = MicroMaxTokens,
            MicroMaxPairs = MicroMaxPairs,
            StaticMaxPairs = StaticMaxPairs,
            CpuThreads = CpuThreads,
        };

    private static void RequireName(string? name, string property)
    {
        if (string.IsNullOrWhiteSpace(name))
        {
            throw new ArgumentException($"{property} must name a column; got {(name is null ? "null" : $"'{name}'")}.", property);
        }
    }

    private static string Text(int value) => value.ToString(CultureInfo.InvariantCulture);
}
