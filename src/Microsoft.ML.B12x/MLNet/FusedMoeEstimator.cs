using System;

namespace Microsoft.ML.B12x;

/// <summary>
/// Checks the input schema and returns a <see cref="FusedMoeTransformer"/> over the given weights (nothing is
/// trained). Created by <c>mlContext.Transforms.FusedMoe(...)</c>.
/// </summary>
public sealed class FusedMoeEstimator : IEstimator<FusedMoeTransformer>
{
    private readonly MoeWeights _weights;
    private readonly FusedMoeTransformerOptions _options;

    /// <exception cref="ArgumentException">The options are incomplete or contradict the weights.</exception>
    internal FusedMoeEstimator(MoeWeights weights, FusedMoeTransformerOptions options)
    {
        ArgumentNullException.ThrowIfNull(weights);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate(weights.Config);
        _weights = weights;
        _options = options;
    }

    /// <summary>
    /// Checks <paramref name="input"/>'s schema (each column's presence, type and vector length) and returns the
    /// transformer. The weights stay the caller's: dispose them after the transformer.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An input column is missing or has the wrong type or length; the message names the column and the expected type.</exception>
    public FusedMoeTransformer Fit(IDataView input)
    {
        ArgumentNullException.ThrowIfNull(input);
        FusedMoeSchemaBinding.Bind(input.Schema, _options, _weights.Config, _options.Validate(_weights.Config));
        return new FusedMoeTransformer(_weights, _options, ownsWeights: false);
    }

    /// <summary>
    /// The output shape: the input's columns plus the output column (a known-size vector of Single). A shape carries
    /// no vector lengths, so those are checked by <see cref="Fit"/>.
    /// </summary>
    /// <exception cref="ArgumentOutOfRangeException">An input column is missing or has the wrong type; the message names the column and the expected type.</exception>
    public SchemaShape GetOutputSchema(SchemaShape inputSchema) => FusedMoeSchemaBinding.Bind(inputSchema, _options);
}
