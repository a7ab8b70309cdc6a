using System;
using System.Collections.Concurrent;
using Microsoft.ML.B12x.Backends.Cuda.Interop;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends.Cuda;

/// <summary>
/// The native CUDA backend: passes the problem's device pointers to <c>b12x_moe_run</c>, with a workspace allocated
/// through TorchSharp (so its caching allocator owns all device memory). Kernels are queued on the legacy default
/// stream, which orders them with TorchSharp's own work; the call returns without synchronising.
/// </summary>
internal sealed class CudaMoeBackend : IMoeBackend
{
    public static CudaMoeBackend Instance { get; } = new();

    /// <summary>
    /// Largest workspace one native call gets; longer batches run in token chunks of the same strategy, which
    /// gives the same bits where the strategy is batch-invariant (docs/kernels.md: within micro and dynamic, and
    /// within static while the chunks stay on the whole batch's side of the narrow kernels' bound). The fp32 FC2
    /// rows (4·H bytes per routed pair) and, for the sm_90a kernels, the fp16 token planes ((H + I)·2 bytes)
    /// dominate: deepseek-v3 needs about 390 KB per token, so 4 GiB runs 4,096 tokens in one call. Chunks cost
    /// speed, as each expert's tokens are split over several calls: on an H200 deepseek-v3 T=4096 took 12.96 ms
    /// through 1 GiB chunks against 10.08 ms in one native call.
    /// </summary>
    internal const long WorkspaceLimitBytes = 4L << 30;

    /// <summary>
    /// <see cref="WhyDeviceNotSupported"/>'s answer by device index. TorchSharp's view of CUDA, the loaded native
    /// library and a device's compute capability cannot change while the process runs, and asking again on every
    /// call (a LibTorch query and a native device query) is host time that a decode step, bound by it, cannot spare.
    /// </summary>
    private static readonly ConcurrentDictionary<int, string?> s_deviceRefusals = new();

    public string Name => "cuda";

    /// <summary>The device index TorchSharp uses for "cuda" without an index.</summary>
    public static int CurrentDeviceIndex() => 0;

    public string? WhyNotSupported(MoeProblem problem) => WhyNotSupported(problem, out _);

    /// <summary>
    /// As <see cref="WhyNotSupported(MoeProblem)"/>; when the backend can serve the problem, <paramref name="call"/>
    /// holds the description and plan that the check made, for
    /// <see cref="Run(MoeProblem, Tensor, in CudaMoeCall, long)"/>.
    /// </summary>
    public string? WhyNotSupported(MoeProblem problem, out CudaMoeCall call)
    {
        call = default;
        if (WhyDeviceNotSupported(DeviceIndex(problem.Device)) is string reason)
        {
            return reason;
        }
        if (problem.RoutedPairs > int.MaxValue)
        {
            return $"T·K = {problem.RoutedPairs} routed pairs exceed the kernels' 32-bit pair index.";
        }
        NativeMoeProblem native = Describe(problem, problem.Output);
        if (Misalignment(problem, native) is string misaligned)
        {
            return misaligned;
        }
        try
        {
            var (strategy, bytes) = NativeProxy.Plan(native);
            call = new CudaMoeCall(native, strategy, bytes);
            return null;
        }
        catch (NotSupportedException e)
        {
            return e.Message; // the native planner's refusal: a kernel limit of the chosen strategy on this device
        }
    }

    /// <summary>
    /// Why the kernels cannot run on CUDA device <paramref name="device"/> at all, or null when they can; asked once
    /// per device in a process.
    /// </summary>
    public static string? WhyDeviceNotSupported(int device) => s_deviceRefusals.GetOrAdd(device, static d => QueryDeviceSupport(d));

    private static string? QueryDeviceSupport(int device)
    {
        if (!cuda.is_available())
        {
            return "CUDA is not available to TorchSharp (no GPU, no CUDA build of LibTorch, or no driver).";
        }
        if (!NativeLibraryLoader.IsLoaded)
        {
            return NativeLibraryLoader.Failure;
        }
        var (capability, _, supported) = NativeProxy.QueryDevice(device);
        if (capability < 80)
        {
            return $"CUDA device {device} has compute capability {capability / 10}.{capability % 10}; the kernels need 8.0 (Ampere) or newer.";
        }
        if (!supported)
        {
            return $"The native library has no kernels for compute capability {capability / 10}.{capability % 10}; rebuild native/ with that architecture in B12X_CUDA_ARCHITECTURES.";
        }
        return null;
    }

    /// <summary>
    /// Why a data pointer is too poorly aligned for the kernels' vector loads, or null. A contiguous view at an offset
    /// inside a larger tensor is a valid argument whose pointer lacks the allocator's alignment. x 16 bytes, output and
    /// weight codes 8, ids their element size and routing weights 4 (native/src/api/problem_validation.cpp, which
    /// would reject the call); block scales 4, because the tiled kernels stage swizzled scale words with 4-byte
    /// cp.async (native/src/kernels/moe_gemm_tiled.cu), which faults on a misaligned address.
    /// </summary>
    private static string? Misalignment(MoeProblem problem, in NativeMoeProblem native) =>
        Misaligned(native.X, "x", 16)
        ?? Misaligned(native.W1, "w1Weight", 8)
        ?? Misaligned(native.W2, "w2Weight", 8)
        ?? Misaligned(native.W1Scales, "w1WeightSf", 4)
        ?? Misaligned(native.W2Scales, "w2WeightSf", 4)
        ?? Misaligned(native.ExpertIds, "tokenSelectedExperts", IdBytes(problem))
        ?? Misaligned(native.RoutingWeights, "tokenFinalScales", 4)
        ?? (problem.Output is null ? null : Misaligned(native.Output, nameof(FusedMoeOptions.Output), 8));

    private static string? Misaligned(IntPtr address, string name, long alignment) => address.ToInt64() % alignment == 0
        ? null
        : $"{name}'s data starts at an address that is not {alignment}-byte aligned (a view at an offset into a larger " +
          "tensor); the CUDA kernels need that alignment. Pass a fresh tensor (.clone()) to run on CUDA.";

    public void Run(MoeProblem problem, Tensor output) => Run(problem, output, WorkspaceLimitBytes);

    /// <summary>Plans the problem, then runs it as <see cref="Run(MoeProblem, Tensor, in CudaMoeCall, long)"/>.</summary>
    internal void Run(MoeProblem problem, Tensor output, long workspaceLimitBytes)
    {
        NativeMoeProblem native = Describe(problem, output: null);
        var (strategy, bytes) = NativeProxy.Plan(native);
        Run(problem, output, new CudaMoeCall(native, strategy, bytes), workspaceLimitBytes);
    }

    /// <summary>
    /// Runs a problem with the description and plan it was accepted with: in one native call with the plan's workspace
    /// when that is within <paramref name="workspaceLimitBytes"/>, so the common call plans once; else in token
    /// chunks whose workspace stays within it (at least one token per native call), all with the whole batch's
    /// strategy.
    /// </summary>
    internal void Run(MoeProblem problem, Tensor output, in CudaMoeCall call, long workspaceLimitBytes = WorkspaceLimitBytes)
    {
        NativeMoeProblem native = call.Native;
        native.Output = TensorPointers.DataPointer(output);
        native.Strategy = (int)call.Strategy; // fixed for every chunk
        if (call.WorkspaceBytes <= workspaceLimitBytes)
        {
            RunNative(native, call.WorkspaceBytes, problem.Device);
            return;
        }
        long perToken = PerTokenWorkspace(native);
        int chunk = (int)Math.Clamp(workspaceLimitBytes / Math.Max(perToken, 1), 1, problem.Tokens);
        long xRow = problem.Hidden * 2L, idRow = problem.TopK * IdBytes(problem), weightRow = problem.TopK * 4L;
        for (int first = 0; first < problem.Tokens; first += chunk)
        {
            NativeMoeProblem part = native;
            part.NumTokens = Math.Min(chunk, problem.Tokens - first);
            part.X = native.X + (nint)(first * xRow);
            part.Output = native.Output + (nint)(first * xRow);
            part.ExpertIds = native.ExpertIds + (nint)(first * idRow);
            part.RoutingWeights = native.RoutingWeights + (nint)(first * weightRow);
            var (_, bytes) = NativeProxy.Plan(part);
            RunNative(part, bytes, problem.Device);
        }
    }

    /// <summary>
    /// Runs an NVFP4 problem in one native call and returns its FC2-input FP4 codes by routed pair,
    /// uint8 [T·K, I/2] on the problem's device (rows of invalid pairs zero). Diagnostics for tests.
    /// </summary>
    internal static Tensor RunAndExportIntermediateCodes(MoeProblem problem, Tensor output)
    {
        NativeMoeProblem native = Describe(problem, output);
        var (_, bytes) = NativeProxy.Plan(native);
        using Tensor workspace = empty(Math.Max(bytes, 1), ScalarType.Byte, problem.Device);
        NativeProxy.Run(native, TensorPointers.DataPointer(workspace), bytes);
        Tensor codes = zeros(new long[] { problem.RoutedPairs, problem.Intermediate / 2 }, ScalarType.Byte, problem.Device);
        NativeProxy.IntermediateCodes(native, TensorPointers.DataPointer(workspace), bytes, TensorPointers.DataPointer(codes));
        return codes;
    }

    /// <summary>
    /// Benchmarks: the median time in microseconds of <paramref name="iterations"/> native runs of the whole problem
    /// (one call, no chunking), each after a write of <paramref name="flush"/> (a device buffer larger than the L2,
    /// so weights come from DRAM), measured with CUDA events around the run alone.
    /// </summary>
    internal static double TimeNative(MoeProblem problem, Tensor output, Tensor flush, int iterations)
    {
        NativeMoeProblem native = Describe(problem, output);
        var (_, bytes) = NativeProxy.Plan(native);
        using Tensor workspace = empty(Math.Max(bytes, 1), ScalarType.Byte, problem.Device);
        return NativeProxy.Time(native, TensorPointers.DataPointer(workspace), bytes, TensorPointers.DataPointer(flush),
            flush.numel(), iterations);
    }

    /// <summary>
    /// Captures the whole call of a problem as one CUDA graph over <paramref name="workspace"/> (which must hold at
    /// least the problem's workspace and outlive the graph, as must every tensor of the problem and the output).
    /// </summary>
    internal static MoeGraphHandle CaptureGraph(MoeProblem problem, Tensor output, Tensor workspace) =>
        NativeProxy.CaptureGraph(Describe(problem, output), TensorPointers.DataPointer(workspace), workspace.numel());

    /// <summary>The workspace bytes one native call of the problem needs.</summary>
    internal static long WorkspaceBytes(MoeProblem problem, Tensor output) => NativeProxy.Plan(Describe(problem, output)).WorkspaceBytes;

    /// <summary>Benchmarks: the median replay time of a problem captured as a graph, as <see cref="TimeNative"/>.</summary>
    internal static double TimeGraph(MoeProblem problem, Tensor output, Tensor flush, int iterations)
    {
        using Tensor workspace = empty(Math.Max(WorkspaceBytes(problem, output), 1), ScalarType.Byte, problem.Device);
        using MoeGraphHandle graph = CaptureGraph(problem, output, workspace);
        return NativeProxy.TimeGraph(graph, TensorPointers.DataPointer(flush), flush.numel(), iterations);
    }

    /// <summary>
    /// The strategy the native library resolves for a problem (for plans, logs and benchmarks), also where that
    /// strategy's kernel limits refuse it. The problem's device must be one the backend serves.
    /// </summary>
    internal static KernelStrategy ResolvedStrategy(MoeProblem problem, Tensor? output = null) =>
        NativeProxy.ResolveStrategy(Describe(problem, output)) switch
        {
            NativeStrategy.Micro => KernelStrategy.Micro,
            NativeStrategy.Static => KernelStrategy.Static,
            NativeStrategy.Dynamic => KernelStrategy.Dynamic,
            _ => KernelStrategy.Auto,
        };

    /// <summary>
    /// The workspace through TorchSharp's caching allocator; its out-of-memory failure becomes the library's own
    /// <see cref="B12xNativeException"/> (status OUT_OF_MEMORY), like every other device failure of a call.
    /// </summary>
    private static Tensor AllocateWorkspace(long bytes, Device device)
    {
        try
        {
            return empty(Math.Max(bytes, 1), ScalarType.Byte, device);
        }
        catch (Exception e) when (e is not B12xNativeException && e.Message.Contains("out of memory", StringComparison.OrdinalIgnoreCase))
        {
            throw new B12xNativeException(
                (int)NativeStatus.OutOfMemory, "B12X_STATUS_OUT_OF_MEMORY",
                $"allocating the {bytes}-byte workspace on {device} failed: {e.Message}", isContextLost: false);
        }
    }

    /// <summary>One native call over a workspace of <paramref name="bytes"/> from TorchSharp's caching allocator.</summary>
    private static void RunNative(in NativeMoeProblem native, long bytes, Device device)
    {
        using Tensor workspace = AllocateWorkspace(bytes, device);
        NativeProxy.Run(native, TensorPointers.DataPointer(workspace), bytes);
    }

    private static long PerTokenWorkspace(in NativeMoeProblem native)
    {
        NativeMoeProblem one = native;
        one.NumTokens = 1;
        NativeMoeProblem two = native;
        two.NumTokens = 2;
        return NativeProxy.Plan(two).WorkspaceBytes - NativeProxy.Plan(one).WorkspaceBytes + 512;
    }

    private static int DeviceIndex(Device device) => device.index < 0 ? CurrentDeviceIndex() : device.index;

    /// <summary>Bytes of one expert id: 8 for int64 ids, 4 for int32.</summary>
    private static long IdBytes(MoeProblem problem) => problem.ExpertIdType == ScalarType.Int64 ? 8 : 4;

    /// <summary>
    /// The native description; <paramref name="output"/> null until the output is known (planning reads no pointer).
    /// </summary>
    private static NativeMoeProblem Describe(MoeProblem problem, Tensor? output)
    {
        var native = new NativeMoeProblem
        {
            StructSize = (uint)System.Runtime.InteropServices.Marshal.SizeOf<NativeMoeProblem>(),
            Device = DeviceIndex(problem.Device),
            NumTokens = problem.Tokens,
            Hidden = problem.Hidden,
            Intermediate = problem.Intermediate,
            NumExperts = problem.NumExperts,
            NumLocalExperts = problem.LocalExperts,
            LocalExpertOffset = problem.LocalExpertOffset,
            TopK = problem.TopK,
            Activation = problem.Activation == MoeActivation.Silu ? 0 : 1,
            QuantMode = problem.QuantMode == MoeQuantMode.Nvfp4 ? 0 : 1,
            ScaleLayout = problem.ScaleLayout == ScaleLayout.Swizzled128x4 ? 0 : 1,
            ReciprocalAlphas = problem.HasReciprocalAlphas ? 1 : 0,
            IndexType = problem.ExpertIdType == ScalarType.Int64 ? 1 : 0,
            Strategy = (int)StrategyOf(problem.Options),
            MicroMaxTokens = problem.Options.MicroMaxTokens,
            MicroMaxPairs = problem.Options.MicroMaxPairs,
            StaticMaxPairs = problem.Options.StaticMaxPairs,
            X = TensorPointers.DataPointer(problem.X),
            W1 = TensorPointers.DataPointer(problem.W1Weight),
            W1Scales = TensorPointers.DataPointer(problem.W1Scales),
            W2 = TensorPointers.DataPointer(problem.W2Weight),
            W2Scales = TensorPointers.DataPointer(problem.W2Scales),
            ExpertIds = TensorPointers.DataPointer(problem.ExpertIds),
            RoutingWeights = TensorPointers.DataPointer(problem.RoutingWeights),
            W1Alpha = Scalars(problem.W1Alpha),
            W2Alpha = Scalars(problem.W2Alpha),
            Fc2InputScale = problem.Fc2InputScale is { } gs2 ? Scalars(gs2) : default,
            InputGlobalScale = problem.InputGlobalScale is { } gs1 ? Scalars(gs1) : default,
            Output = output is null ? IntPtr.Zero : TensorPointers.DataPointer(output),
        };
        return native;
    }

    private static NativeStrategy StrategyOf(FusedMoeOptions options) => options.UseReferenceKernels
        ? NativeStrategy.Reference
        : options.Strategy switch
        {
            KernelStrategy.Micro => NativeStrategy.Micro,
            KernelStrategy.Static => NativeStrategy.Static,
            KernelStrategy.Dynamic => NativeStrategy.Dynamic,
            _ => NativeStrategy.Auto,
        };

    private static NativeExpertScalars Scalars(ExpertScalars scalars) => new()
    {
        Values = TensorPointers.DataPointer(scalars.Values),
        Stride = scalars.Stride,
        Base = scalars.Base,
    };
}
