using System;
using System.Threading;
using Microsoft.ML.B12x.Backends;
using Microsoft.ML.B12x.Formats;
using Microsoft.ML.B12x.TorchSharp;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x;

/// <summary>
/// The fused NVFP4 Mixture-of-Experts layer as an ML.NET transformer: for each row, out = Σ_k w_k · FC2_e(act(FC1_e(x)))
/// over the row's K routed experts (see <see cref="B12xOps.FusedMoe"/>). Input columns: hidden states (vector of
/// Single, length H) and either expert ids (vector of Int32, length K) with routing weights (vector of Single,
/// length K), or router logits (vector of Single, length E) routed by <see cref="FusedMoeTransformerOptions.Router"/>.
/// Output: a vector of Single of length H; every input column passes through untouched.
/// </summary>
/// <remarks>
/// <para>Execution is lazy and batched: the transformed view reads <see cref="FusedMoeTransformerOptions.BatchSize"/>
/// rows ahead, runs one fused call for them (on the GPU when <see cref="Device"/> is CUDA) and serves rows from it;
/// nothing runs unless the output column is read. A <c>PredictionEngine</c> runs one row per call. On the CPU the
/// results are bit-identical whatever the batch size.</para>
/// <para>Persistence: <see cref="Save"/> and <see cref="Load"/>. <c>mlContext.Model.Save</c> cannot hold this
/// transformer (ML.NET has no public way for other assemblies to write and register a model) and throws.</para>
/// <para>Dispose the transformer when done: it holds a device copy of the weights when they live elsewhere, and the
/// weights themselves when it was loaded from a file. Weights passed to the estimator stay the caller's.</para>
/// </remarks>
public sealed class FusedMoeTransformer : ITransformer, IDisposable
{
    private readonly MoeWeights _weights;
    private readonly bool _ownsWeights;
    private readonly MoeWeights _deviceWeights;
    private readonly FusedMoeOptions _operatorOptions;
    private readonly MoeRouter? _router;
    private readonly int? _topK;
    private long _fusedCalls;
    private bool _disposed;

    internal FusedMoeTransformer(MoeWeights weights, FusedMoeTransformerOptions options, bool ownsWeights)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        _topK = options.Validate(weights.Config);
        (Device device, string reason) = DevicePlacement.Resolve(options.Device, nameof(FusedMoeTransformer));
        _weights = weights;
        _ownsWeights = ownsWeights;
        if (!DevicePlacement.Same(weights.Device, device))
        {
            _deviceWeights = weights.To(device);
            reason += $"; the weights were copied there from {weights.Device}";
        }
        else
        {
            _deviceWeights = weights;
        }
        Device = DevicePlacement.Kind(device);
        DeviceReason = reason;
        Options = options;
        _operatorOptions = options.OperatorOptions(_deviceWeights, Device);
        MoeProblem.CheckModes(_operatorOptions);
        _router = options.UsesRouter
            ? new MoeRouter(options.Router, weights.Config.NumExperts, _topK!.Value, options.NormalizeTopKWeights)
            : null;
    }

    /// <summary>The settings (as given; <see cref="Device"/> says where rows actually run).</summary>
    public FusedMoeTransformerOptions Options { get; }

    /// <summary>The weights (as given to the estimator or loaded; a device copy may be what runs, see <see cref="Device"/>).</summary>
    public MoeWeights Weights
    {
        get
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            return _weights;
        }
    }

    /// <summary>Where rows run: <see cref="ComputeDevice.Cpu"/> or <see cref="ComputeDevice.Cuda"/>.</summary>
    public ComputeDevice Device { get; }

    /// <summary>Why <see cref="Device"/> was chosen (also logged to <see cref="B12xOps.Logger"/>).</summary>
    public string DeviceReason { get; }

    /// <summary>Always true: rows map one to one.</summary>
    public bool IsRowToRowMapper => true;

    /// <summary>Fused calls made so far (one per batch), for diagnostics.</summary>
    internal long FusedCalls => Interlocked.Read(ref _fusedCalls);

    /// <summary>The output schema: every input column, then the output column (vector of Single, length H).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An input column is missing or has the wrong type or length.</exception>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => Bind(inputSchema).OutputSchema;

    /// <summary>A mapper that runs one row per call (what a <c>PredictionEngine</c> uses).</summary>
    /// <exception cref="ArgumentOutOfRangeException">An input column is missing or has the wrong type or length.</exception>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new FusedMoeRowMapper(this, Bind(inputSchema));

    /// <summary>The lazily transformed view: rows run in batches when the output column is read.</summary>
    /// <exception cref="ArgumentOutOfRangeException">An input column is missing or has the wrong type or length.</exception>
    public IDataView Transform(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return new FusedMoeDataView(this, input, Bind(input.Schema));
    }

    /// <summary>
    /// Saves the transformer as one zip file holding <c>config.json</c> (the options) and the layer file of its
    /// weights, byte for byte as it was loaded (weights built in memory are written as a layer file). The file is
    /// replaced atomically.
    /// </summary>
    /// <exception cref="InvalidOperationException">The weights' layer file changed since they were loaded.</exception>
    public void Save(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        FusedMoeModelFormat.Save(path, Options, Weights);
    }

    /// <summary>
    /// Loads a transformer written by <see cref="Save"/>, with its weights on <paramref name="device"/> (Auto: CUDA when
    /// the backend can run, else the CPU). Its outputs are bit-identical to the saved transformer's on the same backend.
    /// The returned transformer owns its weights: dispose it when done.
    /// </summary>
    /// <exception cref="System.IO.InvalidDataException">
    /// The file is not a saved transformer, or its options do not make a valid transformer of its layer.
    /// </exception>
    public static FusedMoeTransformer Load(MLContext mlContext, string path, ComputeDevice device = ComputeDevice.Auto)
    {
        ArgumentNullException.ThrowIfNull(mlContext);
        ArgumentException.ThrowIfNullOrEmpty(path);
        if (!Enum.IsDefined(device))
        {
            throw new ArgumentOutOfRangeException(nameof(device), device, $"device must be one of {string.Join(", ", Enum.GetNames<ComputeDevice>())}.");
        }
        (FusedMoeTransformerOptions options, MoeWeights weights) = FusedMoeModelFormat.Load(path, device);
        try
        {
            return new FusedMoeTransformer(weights, options with { Device = device }, ownsWeights: true);
        }
        catch (ArgumentException e)
        {
            // The device argument was checked above, so the options and the layer, both from the file, disagree.
            weights.Dispose();
            throw new System.IO.InvalidDataException(
                $"{System.IO.Path.GetFullPath(path)} is not a saved FusedMoeTransformer: its options do not make a transformer of its layer: {e.Message}", e);
        }
        catch
        {
            weights.Dispose();
            throw;
        }
    }

    /// <summary>Always throws: ML.NET's model format cannot hold this transformer.</summary>
    /// <exception cref="NotSupportedException">Always; the message says what to use instead.</exception>
    void ICanSaveModel.Save(ModelSaveContext ctx) => throw new NotSupportedException(
        $"{nameof(FusedMoeTransformer)} cannot be saved with mlContext.Model.Save: ML.NET offers other assemblies no public way to " +
        $"write and register a transformer in its model format. Save it with {nameof(FusedMoeTransformer)}.{nameof(Save)}(path) and " +
        $"load it with {nameof(FusedMoeTransformer)}.{nameof(Load)}(mlContext, path, device); save the other transformers of the " +
        "chain separately.");

    /// <summary>Releases the device copy of the weights, and the weights when this transformer owns them.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        if (!ReferenceEquals(_deviceWeights, _weights))
        {
            _deviceWeights.Dispose();
        }
        if (_ownsWeights)
        {
            _weights.Dispose();
        }
    }

    /// <summary>A reusable batch buffer of <paramref name="capacity"/> rows for <paramref name="binding"/>.</summary>
    internal FusedMoeBatch CreateBatch(FusedMoeSchemaBinding binding, int capacity) => new(
        capacity, binding.HiddenSize, binding.TopK, _router is null ? 0 : _router.NumExperts);

    /// <summary>
    /// Runs the rows of <paramref name="batch"/> in one fused call: routes them when rows carry router logits, rounds
    /// the output to float and stores it in <see cref="FusedMoeBatch.Output"/>.
    /// </summary>
    internal void Run(FusedMoeBatch batch)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        int rows = batch.Count, hidden = batch.Hidden, topK = batch.TopK;
        if (rows == 0)
        {
            return;
        }
        _router?.Route(batch.RouterLogits.AsSpan(0, rows * batch.LogitsWidth), batch.ExpertIds, batch.RoutingWeights);
        using DisposeScope scope = NewDisposeScope();
        Tensor x = empty(new long[] { rows, hidden }, ScalarType.BFloat16);
        batch.HiddenBits.AsSpan(0, rows * hidden).CopyTo(TensorPointers.HostSpanMutable<ushort>(x));
        Tensor ids = empty(new long[] { rows, topK }, ScalarType.Int32);
        batch.ExpertIds.AsSpan(0, rows * topK).CopyTo(TensorPointers.HostSpanMutable<int>(ids));
        Tensor weights = empty(new long[] { rows, topK }, ScalarType.Float32);
        batch.RoutingWeights.AsSpan(0, rows * topK).CopyTo(TensorPointers.HostSpanMutable<float>(weights));
        MoeWeights w = _deviceWeights;
        Device device = w.Device;
        Tensor output = B12xOps.FusedMoe(
            x.to(device), w.W1Weight, w.W1WeightSf, w.W2Weight, w.W2WeightSf, ids.to(device), weights.to(device),
            w.Config.NumExperts, topK, w.W1Alpha, w.W2Alpha, _operatorOptions);
        Interlocked.Increment(ref _fusedCalls);
        Tensor host = output.cpu();
        BFloat16Bits.ToSingle(TensorPointers.HostSpan<ushort>(host), batch.Output.AsSpan(0, rows * hidden));
    }

    private FusedMoeSchemaBinding Bind(DataViewSchema inputSchema)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return FusedMoeSchemaBinding.Bind(inputSchema, Options, _weights.Config, _topK);
    }
}
