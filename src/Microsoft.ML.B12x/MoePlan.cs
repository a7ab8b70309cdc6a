using System;
using System.Collections.Generic;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.Backends.Cuda;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// A reusable call plan for one layer and a maximum batch (FlashInfer's <c>B12xMoEWrapper</c>): it owns static input
/// and output buffers and the workspace on the weights' device, and on CUDA captures the whole call of each token count
/// as one CUDA graph the first time that count is run, then replays it, which removes the per-kernel launch cost that
/// dominates decode. Results equal <see cref="B12xOps.FusedMoe"/> with the same strategy. Not thread-safe: one plan
/// per thread (calls on different plans may run concurrently).
/// </summary>
public sealed class MoePlan : IDisposable
{
    private readonly Tensor _x;        // bf16 [max T, H]
    private readonly Tensor _ids;      // int64 [max T, K] (int32 ids widen exactly; int64 ids are never truncated)
    private readonly Tensor _weights;  // float32 [max T, K]
    private readonly Tensor _output;   // bf16 [max T, H]
    private readonly Tensor? _workspace;
    private readonly Dictionary<int, MoeGraphHandle> _graphs = new();
    private readonly FusedMoeOptions _options;
    private readonly int _topK;
    private bool _disposed;

    private MoePlan(MoeWeights weights, int maxTokens, int topK, FusedMoeOptions options)
    {
        Weights = weights;
        MaxTokens = maxTokens;
        _options = options;
        _topK = topK;
        Device device = weights.Device;
        int hidden = weights.Config.Hidden;
        _x = zeros(new long[] { maxTokens, hidden }, ScalarType.BFloat16, device);
        _ids = full(new long[] { maxTokens, topK }, -1L, ScalarType.Int64, device);
        _weights = zeros(new long[] { maxTokens, topK }, ScalarType.Float32, device);
        _output = zeros(new long[] { maxTokens, hidden }, ScalarType.BFloat16, device);
        if (device.type == DeviceType.CUDA)
        {
            using MoeProblem problem = Problem(maxTokens);
            string? reason = CudaMoeBackend.Instance.WhyNotSupported(problem, out CudaMoeCall call);
            if (reason is not null)
            {
                Dispose();
                throw new NotSupportedException(reason);
            }
            _workspace = empty(Math.Max(LargestWorkspace(call.WorkspaceBytes), 1), ScalarType.Byte, device);
        }
    }

    /// <summary>
    /// The workspace every batch up to <see cref="MaxTokens"/> fits in, given the largest batch's. A workspace grows
    /// with the batch within one strategy, but under Auto a smaller batch can resolve to a strategy with larger
    /// planes per pair: the micro strategy keeps fp16 token rows, so with K = 2 a batch of 8 (micro) needs more
    /// than one of 9 (static). The largest batch of each strategy's range is planned as well.
    /// </summary>
    private long LargestWorkspace(long largestBatchBytes)
    {
        long bytes = largestBatchBytes;
        if (_options.Strategy != KernelStrategy.Auto)
        {
            return bytes;
        }
        foreach (KernelStrategy strategy in new[] { KernelStrategy.Micro, KernelStrategy.Static })
        {
            int tokens = LastBatchUpTo(strategy);
            if (tokens < 1)
            {
                continue;
            }
            using MoeProblem smaller = Problem(tokens);
            // A batch the kernels cannot serve fails with that reason when it is run, as a plain call would.
            if (CudaMoeBackend.Instance.WhyNotSupported(smaller, out CudaMoeCall call) is null)
            {
                bytes = Math.Max(bytes, call.WorkspaceBytes);
            }
        }
        return bytes;
    }

    /// <summary>
    /// The largest batch below <see cref="MaxTokens"/> that Auto runs with <paramref name="strategy"/> or a strategy
    /// before it, or 0. As T grows, Auto's choice only moves on, micro to static to dynamic (the native planner's
    /// rule, asked here rather than restated), so a binary search finds where each range ends.
    /// </summary>
    private int LastBatchUpTo(KernelStrategy strategy)
    {
        int low = 0, high = MaxTokens;  // low: 0 or a batch within the range; high: MaxTokens or a batch past it
        while (high - low > 1)
        {
            int middle = low + (high - low) / 2;
            using MoeProblem problem = Problem(middle);
            if (CudaMoeBackend.ResolvedStrategy(problem) <= strategy)
            {
                low = middle;
            }
            else
            {
                high = middle;
            }
        }
        return low;
    }

    /// <summary>The weights the plan runs (owned by the caller; they must outlive the plan).</summary>
    public MoeWeights Weights { get; }

    /// <summary>The largest token count <see cref="Run"/> accepts.</summary>
    public int MaxTokens { get; }

    /// <summary>Graphs captured so far (one per token count run on CUDA).</summary>
    public int CapturedGraphs => _graphs.Count;

    /// <summary>Creates a plan on the weights' device.</summary>
    /// <param name="weights">The layer; its device decides where the plan runs.</param>
    /// <param name="maxTokens">The largest batch (≥ 1); buffers and workspace are sized for it.</param>
    /// <param name="topK">K, routes per token (default: the layer's <c>top_k</c>).</param>
    /// <param name="strategy">The CUDA kernel strategy (Auto: chosen per token count).</param>
    /// <exception cref="ArgumentException"><paramref name="maxTokens"/> or <paramref name="topK"/> below 1, or no K given or known.</exception>
    /// <exception cref="NotSupportedException">The CUDA backend cannot serve the layer.</exception>
    public static MoePlan Create(MoeWeights weights, int maxTokens, int? topK = null, KernelStrategy strategy = KernelStrategy.Auto)
    {
        ArgumentNullException.ThrowIfNull(weights);
        if (maxTokens < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(maxTokens), maxTokens, "maxTokens must be at least 1.");
        }
        int k = topK ?? weights.Config.TopK ?? throw new ArgumentException(
            "The layer does not record top_k; pass topK.", nameof(topK));
        if (k < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), k, "topK must be at least 1.");
        }
        ComputeDevice device = weights.Device.type == DeviceType.CUDA ? ComputeDevice.Cuda : ComputeDevice.Cpu;
        return new MoePlan(weights, maxTokens, k, weights.CreateOptions(strategy, device));
    }

    /// <summary>
    /// Runs the layer on a batch. The inputs are copied into the plan's buffers (so they may live anywhere TorchSharp
    /// can copy from); the result is a view of the plan's output buffer, valid until the next <see cref="Run"/>.
    /// </summary>
    /// <param name="x">bfloat16 [T, H], T ≤ <see cref="MaxTokens"/>.</param>
    /// <param name="tokenSelectedExperts">int32 or int64 [T, K], global expert ids.</param>
    /// <param name="tokenFinalScales">float32 [T, K].</param>
    /// <returns>bfloat16 [T, H] on the plan's device.</returns>
    public Tensor Run(Tensor x, Tensor tokenSelectedExperts, Tensor tokenFinalScales)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        TensorChecks.NotNull(x, nameof(x));
        TensorChecks.Dtype(x, nameof(x), ScalarType.BFloat16);
        TensorChecks.Rank(x, nameof(x), 2);
        int tokens = checked((int)x.shape[0]);
        if (tokens > MaxTokens)
        {
            throw new ArgumentException($"x has {tokens} tokens; this plan was created for at most {MaxTokens}.", nameof(x));
        }
        TensorChecks.Shape(x, nameof(x), tokens, _x.shape[1]);
        TensorChecks.NotNull(tokenSelectedExperts, nameof(tokenSelectedExperts));
        TensorChecks.Dtype(tokenSelectedExperts, nameof(tokenSelectedExperts), ScalarType.Int32, ScalarType.Int64);
        TensorChecks.Shape(tokenSelectedExperts, nameof(tokenSelectedExperts), tokens, _ids.shape[1]);
        TensorChecks.NotNull(tokenFinalScales, nameof(tokenFinalScales));
        TensorChecks.Dtype(tokenFinalScales, nameof(tokenFinalScales), ScalarType.Float32);
        TensorChecks.Shape(tokenFinalScales, nameof(tokenFinalScales), tokens, _weights.shape[1]);
        using var scope = NewDisposeScope();
        Tensor output = _output.narrow(0, 0, tokens);
        if (tokens == 0)
        {
            return output.MoveToOuterDisposeScope();
        }
        _x.narrow(0, 0, tokens).copy_(x);
        _ids.narrow(0, 0, tokens).copy_(tokenSelectedExperts);
        _weights.narrow(0, 0, tokens).copy_(tokenFinalScales);
        if (_workspace is null)
        {
            using MoeProblem problem = Problem(tokens);
            BackendSelector.Run(problem);
        }
        else
        {
            if (!_graphs.TryGetValue(tokens, out MoeGraphHandle? graph))
            {
                using MoeProblem problem = Problem(tokens);
                graph = CudaMoeBackend.CaptureGraph(problem, problem.Output!, _workspace);
                _graphs[tokens] = graph;
            }
            NativeProxy.LaunchGraph(graph);
        }
        return output.MoveToOuterDisposeScope();
    }

    /// <summary>Releases the graphs, buffers and workspace (not the weights).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        foreach (MoeGraphHandle graph in _graphs.Values)
        {
            graph.Dispose();
        }
        _graphs.Clear();
        _workspace?.Dispose();
        _x.Dispose();
        _ids.Dispose();
        _weights.Dispose();
        _output.Dispose();
    }

    /// <summary>The validated problem over the first <paramref name="tokens"/> rows of the plan's buffers.</summary>
    private MoeProblem Problem(int tokens) => MoeProblem.Create(
        _x.narrow(0, 0, tokens), Weights.W1Weight, Weights.W1WeightSf, Weights.W2Weight, Weights.W2WeightSf,
        _ids.narrow(0, 0, tokens), _weights.narrow(0, 0, tokens), Weights.Config.NumExperts, _topK,
        Weights.W1Alpha, Weights.W2Alpha, _options with { Output = _output.narrow(0, 0, tokens) });
}
