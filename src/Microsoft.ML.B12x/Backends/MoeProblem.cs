using System;
using System.Collections.Generic;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Backends;

/// <summary>
/// One fused-MoE call, validated once against the contract (semantics.md, "Tensors" and "Shape rules and errors"):
/// sizes derived, scale tensors normalised to contiguous storage, per-expert scalars resolved to (tensor, stride,
/// base). Backends trust it and never re-check. Disposing it releases the tensors it created (contiguous copies of
/// 6-D scale views); the caller's tensors are untouched.
/// </summary>
internal sealed class MoeProblem : IDisposable
{
    private List<Tensor>? _owned;

    private MoeProblem() { }

    /// <summary>T: tokens (rows of x and of the routing tensors).</summary>
    public int Tokens { get; private set; }

    /// <summary>H: hidden size.</summary>
    public int Hidden { get; private set; }

    /// <summary>I: intermediate size of one expert.</summary>
    public int Intermediate { get; private set; }

    /// <summary>E: experts of the whole layer (the range of valid global ids).</summary>
    public int NumExperts { get; private set; }

    /// <summary>E_loc: experts held here.</summary>
    public int LocalExperts { get; private set; }

    /// <summary>Global id of local expert 0.</summary>
    public int LocalExpertOffset { get; private set; }

    /// <summary>K: routes per token.</summary>
    public int TopK { get; private set; }

    public MoeActivation Activation { get; private set; }

    public MoeQuantMode QuantMode { get; private set; }

    public MoeSourceFormat SourceFormat { get; private set; }

    /// <summary>Layout of <see cref="W1Scales"/> and <see cref="W2Scales"/> (a 6-D view has become storage).</summary>
    public ScaleLayout ScaleLayout { get; private set; }

    public FusedMoeOptions Options { get; private set; } = FusedMoeOptions.Default;

    /// <summary>The device every tensor is on.</summary>
    public Device Device { get; private set; } = CPU;

    /// <summary>True for gated activations (silu): W1 has 2I rows, [up; gate].</summary>
    public bool IsGated => Activation == MoeActivation.Silu;

    /// <summary>Rows of W1: 2I gated, I for relu2.</summary>
    public int W1Rows => IsGated ? 2 * Intermediate : Intermediate;

    /// <summary>P = T·K routed pairs (valid or not).</summary>
    public long RoutedPairs => (long)Tokens * TopK;

    /// <summary>x: bfloat16 [T, H], contiguous.</summary>
    public Tensor X { get; private set; } = null!;

    /// <summary>W1 codes: uint8 [E_loc, W1Rows, H/2], contiguous.</summary>
    public Tensor W1Weight { get; private set; } = null!;

    /// <summary>W1 block scales, 1-byte dtype, contiguous: swizzled storage of E_loc·Np·Cbp bytes or linear [E_loc, W1Rows, H/16].</summary>
    public Tensor W1Scales { get; private set; } = null!;

    /// <summary>W2 codes: uint8 [E_loc, H, I/2], contiguous.</summary>
    public Tensor W2Weight { get; private set; } = null!;

    /// <summary>W2 block scales, as <see cref="W1Scales"/> with H rows and I columns.</summary>
    public Tensor W2Scales { get; private set; } = null!;

    /// <summary>Global expert ids: int32 or int64 [T, K], contiguous.</summary>
    public Tensor ExpertIds { get; private set; } = null!;

    /// <summary>The dtype of <see cref="ExpertIds"/>: Int32 or Int64.</summary>
    public ScalarType ExpertIdType { get; private set; }

    /// <summary>Routing weights: float32 [T, K], contiguous.</summary>
    public Tensor RoutingWeights { get; private set; } = null!;

    public ExpertScalars W1Alpha { get; private set; }

    public ExpertScalars W2Alpha { get; private set; }

    /// <summary>gs2; present in NVFP4 mode.</summary>
    public ExpertScalars? Fc2InputScale { get; private set; }

    /// <summary>gs1 when given (NVFP4 mode only).</summary>
    public ExpertScalars? InputGlobalScale { get; private set; }

    /// <summary>The caller's output buffer, validated, or null.</summary>
    public Tensor? Output { get; private set; }

    /// <summary>Validates a call and builds the problem.</summary>
    /// <exception cref="ArgumentException">Any violation of the contract, naming the parameter.</exception>
    public static MoeProblem Create(
        Tensor x, Tensor w1Weight, Tensor w1WeightSf, Tensor w2Weight, Tensor w2WeightSf,
        Tensor tokenSelectedExperts, Tensor tokenFinalScales, int numExperts, int topK,
        Tensor w1Alpha, Tensor w2Alpha, FusedMoeOptions? options)
    {
        options ??= FusedMoeOptions.Default;
        TensorChecks.NotNull(x, nameof(x));
        TensorChecks.Dtype(x, nameof(x), ScalarType.BFloat16);
        TensorChecks.Rank(x, nameof(x), 2);
        TensorChecks.Contiguous(x, nameof(x));
        Device device = x.device;
        int tokens = TensorChecks.Dimension(x, nameof(x), 0);
        int hidden = TensorChecks.Dimension(x, nameof(x), 1);
        RequireMultipleOf16(hidden, "hidden size (x.shape[1])", nameof(x));

        if (numExperts < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(numExperts), numExperts, "numExperts must be at least 1.");
        }
        if (topK < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(topK), topK, "topK must be at least 1.");
        }
        int localExperts = options.NumLocalExperts ?? numExperts;
        if (localExperts < 1 || localExperts > numExperts)
        {
            throw new ArgumentOutOfRangeException(
                nameof(FusedMoeOptions.NumLocalExperts), localExperts, $"NumLocalExperts must be in [1, numExperts = {numExperts}].");
        }
        int offset = options.LocalExpertOffset;
        if (offset < 0 || (long)offset + localExperts > numExperts)
        {
            throw new ArgumentOutOfRangeException(
                nameof(FusedMoeOptions.LocalExpertOffset), offset,
                $"LocalExpertOffset + NumLocalExperts must be in [0, numExperts = {numExperts}]; NumLocalExperts is {localExperts}.");
        }
        CheckModes(options);

        bool gated = options.Activation == MoeActivation.Silu;
        TensorChecks.NotNull(w1Weight, nameof(w1Weight));
        TensorChecks.Dtype(w1Weight, nameof(w1Weight), ScalarType.Byte);
        TensorChecks.Rank(w1Weight, nameof(w1Weight), 3);
        int w1Rows = TensorChecks.Dimension(w1Weight, nameof(w1Weight), 1);
        if (gated && w1Rows % 2 != 0)
        {
            throw new ArgumentException(
                $"w1Weight must have 2·I rows ([up; gate]) for the gated activation silu; got {w1Rows} rows.", nameof(w1Weight));
        }
        int intermediate = gated ? w1Rows / 2 : w1Rows;
        RequireMultipleOf16(intermediate, "intermediate size I (from w1Weight.shape[1])", nameof(w1Weight));
        TensorChecks.Shape(w1Weight, nameof(w1Weight), localExperts, w1Rows, hidden / 2);
        TensorChecks.Contiguous(w1Weight, nameof(w1Weight));
        TensorChecks.SameDevice(w1Weight, nameof(w1Weight), device);

        TensorChecks.NotNull(w2Weight, nameof(w2Weight));
        TensorChecks.Dtype(w2Weight, nameof(w2Weight), ScalarType.Byte);
        TensorChecks.Shape(w2Weight, nameof(w2Weight), localExperts, hidden, intermediate / 2);
        TensorChecks.Contiguous(w2Weight, nameof(w2Weight));
        TensorChecks.SameDevice(w2Weight, nameof(w2Weight), device);

        TensorChecks.NotNull(tokenSelectedExperts, nameof(tokenSelectedExperts));
        ScalarType idType = TensorChecks.Dtype(tokenSelectedExperts, nameof(tokenSelectedExperts), ScalarType.Int32, ScalarType.Int64);
        TensorChecks.Rank(tokenSelectedExperts, nameof(tokenSelectedExperts), 2);
        if (tokenSelectedExperts.size(1) != topK)
        {
            throw new ArgumentException(
                $"tokenSelectedExperts.shape[1] must equal topK = {topK}; got shape {TensorChecks.ShapeText(tokenSelectedExperts.shape)}.",
                nameof(tokenSelectedExperts));
        }
        if (tokenSelectedExperts.size(0) != tokens)
        {
            throw new ArgumentException(
                $"tokenSelectedExperts must have one row per token of x (T = {tokens}); got shape {TensorChecks.ShapeText(tokenSelectedExperts.shape)}.",
                nameof(tokenSelectedExperts));
        }
        TensorChecks.Contiguous(tokenSelectedExperts, nameof(tokenSelectedExperts));
        TensorChecks.SameDevice(tokenSelectedExperts, nameof(tokenSelectedExperts), device);

        TensorChecks.NotNull(tokenFinalScales, nameof(tokenFinalScales));
        TensorChecks.Dtype(tokenFinalScales, nameof(tokenFinalScales), ScalarType.Float32);
        TensorChecks.Shape(tokenFinalScales, nameof(tokenFinalScales), tokens, topK);
        TensorChecks.Contiguous(tokenFinalScales, nameof(tokenFinalScales));
        TensorChecks.SameDevice(tokenFinalScales, nameof(tokenFinalScales), device);

        var problem = new MoeProblem
        {
            Tokens = tokens,
            Hidden = hidden,
            Intermediate = intermediate,
            NumExperts = numExperts,
            LocalExperts = localExperts,
            LocalExpertOffset = offset,
            TopK = topK,
            Activation = options.Activation,
            QuantMode = options.QuantMode,
            SourceFormat = options.SourceFormat,
            ScaleLayout = options.ScaleLayout,
            Options = options,
            Device = device,
            X = x,
            W1Weight = w1Weight,
            W2Weight = w2Weight,
            ExpertIds = tokenSelectedExperts,
            ExpertIdType = idType,
            RoutingWeights = tokenFinalScales,
        };
        try
        {
            problem.W1Scales = problem.NormalizeScales(w1WeightSf, nameof(w1WeightSf), problem.W1Rows, hidden);
            problem.W2Scales = problem.NormalizeScales(w2WeightSf, nameof(w2WeightSf), hidden, intermediate);
            problem.W1Alpha = problem.ResolveScalars(w1Alpha, nameof(w1Alpha), reciprocal: problem.HasReciprocalAlphas);
            problem.W2Alpha = problem.ResolveScalars(w2Alpha, nameof(w2Alpha), reciprocal: problem.HasReciprocalAlphas);
            if (problem.QuantMode == MoeQuantMode.Nvfp4)
            {
                if (options.Fc2InputScale is null)
                {
                    throw new ArgumentNullException(
                        nameof(FusedMoeOptions.Fc2InputScale),
                        "Fc2InputScale is required when QuantMode is Nvfp4 (it is gs2, the FC2-input quantisation scale); got null.");
                }
                problem.Fc2InputScale = problem.ResolveScalars(options.Fc2InputScale, nameof(FusedMoeOptions.Fc2InputScale), reciprocal: false);
                if (options.InputGlobalScale is not null)
                {
                    problem.InputGlobalScale = problem.ResolveScalars(
                        options.InputGlobalScale, nameof(FusedMoeOptions.InputGlobalScale), reciprocal: false);
                }
            }
            problem.Output = problem.CheckOutput(options);
            return problem;
        }
        catch
        {
            problem.Dispose();
            throw;
        }
    }

    /// <summary>True when the alphas are stored as reciprocals (compressed-tensors W4A16).</summary>
    public bool HasReciprocalAlphas => SourceFormat == MoeSourceFormat.CompressedTensors;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_owned is null)
        {
            return;
        }
        foreach (Tensor tensor in _owned)
        {
            tensor.Dispose();
        }
        _owned.Clear();
    }

    internal static void CheckModes(FusedMoeOptions options)
    {
        RequireDefined(options.Activation, nameof(FusedMoeOptions.Activation));
        RequireDefined(options.QuantMode, nameof(FusedMoeOptions.QuantMode));
        RequireDefined(options.SourceFormat, nameof(FusedMoeOptions.SourceFormat));
        RequireDefined(options.ScaleLayout, nameof(FusedMoeOptions.ScaleLayout));
        RequireDefined(options.Strategy, nameof(FusedMoeOptions.Strategy));
        RequireDefined(options.Device, nameof(FusedMoeOptions.Device));
        if (options.SourceFormat == MoeSourceFormat.CompressedTensors && options.QuantMode != MoeQuantMode.W4A16)
        {
            throw new ArgumentException(
                $"SourceFormat CompressedTensors requires QuantMode W4A16; got QuantMode {options.QuantMode}.",
                nameof(FusedMoeOptions.SourceFormat));
        }
        if (options.OutputDtype != ScalarType.BFloat16)
        {
            throw new ArgumentException(
                $"OutputDtype must be BFloat16; got {TensorChecks.DtypeName(options.OutputDtype)}.", nameof(FusedMoeOptions.OutputDtype));
        }
        if (options.CpuThreads is < 1)
        {
            throw new ArgumentOutOfRangeException(
                nameof(FusedMoeOptions.CpuThreads), options.CpuThreads, "CpuThreads must be at least 1 (or null for one per core).");
        }
        RequireNonNegative(options.MicroMaxTokens, nameof(FusedMoeOptions.MicroMaxTokens));
        RequireNonNegative(options.MicroMaxPairs, nameof(FusedMoeOptions.MicroMaxPairs));
        RequireNonNegative(options.StaticMaxPairs, nameof(FusedMoeOptions.StaticMaxPairs));
    }

    private static void RequireDefined<T>(T value, string name) where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
        {
            throw new ArgumentOutOfRangeException(name, value, $"{name} must be one of {string.Join(", ", Enum.GetNames<T>())}; got {value}.");
        }
    }

    private static void RequireNonNegative(int threshold, string name)
    {
        if (threshold < 0)
        {
            throw new ArgumentOutOfRangeException(name, threshold, $"{name} (a kernel-strategy threshold) must be non-negative; got {threshold}.");
        }
    }

    private static void RequireMultipleOf16(int size, string what, string parameterName)
    {
        if (size <= 0 || size % 16 != 0)
        {
            throw new ArgumentException(
                $"The {what} must be a positive multiple of 16 (E2M1 pairs and 16-element scale blocks); got {size}.", parameterName);
        }
    }

    private Tensor NormalizeScales(Tensor scales, string name, int rows, int columns)
    {
        TensorChecks.NotNull(scales, name);
        TensorChecks.Dtype(scales, name, ScalarType.Byte, TensorChecks.Float8E4M3);
        TensorChecks.SameDevice(scales, name, Device);
        if (ScaleLayout == ScaleLayout.Linear)
        {
            TensorChecks.Shape(scales, name, LocalExperts, rows, columns / 16);
            TensorChecks.Contiguous(scales, name);
            return scales;
        }

        if (scales.dim() == 6 && TensorChecks.HasShape(scales, SwizzledScaleLayout.ViewShape(LocalExperts, rows, columns)))
        {
            // FlashInfer's logical view [a, b, c, d, f, e]: storage order is [e][c][f][a][b][d].
            Tensor storage = scales.permute(5, 2, 4, 0, 1, 3).contiguous();
            (_owned ??= new()).Add(storage);
            return storage;
        }
        long expected = SwizzledScaleLayout.TotalBytes(LocalExperts, rows, columns);
        if (scales.numel() != expected)
        {
            long[] viewShape = SwizzledScaleLayout.ViewShape(LocalExperts, rows, columns);
            throw new ArgumentException(
                $"{name} must hold the swizzled scales of {LocalExperts} experts × {rows} rows × {columns / 16} blocks: " +
                $"{expected} bytes (E_loc·Np·Cbp = {LocalExperts}·{SwizzledScaleLayout.PaddedRows(rows)}·{SwizzledScaleLayout.PaddedBlocks(columns)}) " +
                $"in any shape, or the 6-D view {TensorChecks.ShapeText(viewShape)}; got shape {TensorChecks.ShapeText(scales.shape)}. " +
                "Linear [E_loc, N, C/16] scales need ScaleLayout = Linear.",
                name);
        }
        TensorChecks.Contiguous(scales, name);
        return scales;
    }

    private ExpertScalars ResolveScalars(Tensor values, string name, bool reciprocal)
    {
        TensorChecks.NotNull(values, name);
        TensorChecks.Dtype(values, name, ScalarType.Float32);
        TensorChecks.SameDevice(values, name, Device);
        long length = values.dim() == 1 ? values.size(0) : -1;
        if (length != 1 && length != NumExperts && length != LocalExperts)
        {
            throw new ArgumentException(
                $"{name} must be float32 of shape [1], [numExperts = {NumExperts}] or [NumLocalExperts = {LocalExperts}]; got {TensorChecks.ShapeText(values.shape)}.",
                name);
        }
        TensorChecks.Contiguous(values, name);
        var scalars = length == 1
            ? new ExpertScalars(values, 0, 0)
            : length == LocalExperts ? new ExpertScalars(values, 1, 0) : new ExpertScalars(values, 1, LocalExpertOffset);
        if (Device.type == DeviceType.CPU)
        {
            ReadOnlySpan<float> host = TensorPointers.HostSlice<float>(values, 0, (int)length);
            for (int i = 0; i < host.Length; i++)
            {
                float used = reciprocal ? 1f / host[i] : host[i];
                if (!float.IsFinite(host[i]) || !(host[i] > 0) || !float.IsFinite(used))
                {
                    throw new ArgumentException(
                        $"{name}[{i}] must be finite and > 0{(reciprocal ? " with a finite reciprocal (compressed-tensors convention)" : "")}; got {host[i]:R}.",
                        name);
                }
            }
        }
        return scalars;
    }

    private Tensor? CheckOutput(FusedMoeOptions options)
    {
        Tensor? output = options.Output;
        if (output is null)
        {
            return null;
        }
        const string name = nameof(FusedMoeOptions.Output);
        TensorChecks.NotNull(output, name);
        TensorChecks.Dtype(output, name, ScalarType.BFloat16);
        TensorChecks.Shape(output, name, Tokens, Hidden);
        TensorChecks.Contiguous(output, name);
        TensorChecks.SameDevice(output, name, Device);
        long bytes = (long)Tokens * Hidden * 2;
        if (bytes > 0)
        {
            long outStart = TensorPointers.DataPointer(output).ToInt64();
            long xStart = TensorPointers.DataPointer(X).ToInt64();
            if (outStart < xStart + bytes && xStart < outStart + bytes)
            {
                throw new ArgumentException("Output must not overlap x; got a buffer that shares memory with x.", name);
            }
        }
        return output;
    }
}
