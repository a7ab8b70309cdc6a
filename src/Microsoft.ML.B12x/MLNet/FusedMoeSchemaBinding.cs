using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using System.Reflection;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.Data;

namespace Microsoft.ML.B12x;

/// <summary>
/// The input columns a <see cref="FusedMoeTransformer"/> reads, checked against an input schema, and the output
/// schema: every input column at its own index (an input column named like the output becomes hidden), then the
/// output column. Also checks an estimator's <see cref="SchemaShape"/>, which carries no vector lengths.
/// </summary>
internal sealed class FusedMoeSchemaBinding
{
    private const string HiddenRole = "hidden states", IdsRole = "expert ids", WeightsRole = "routing weights", LogitsRole = "router logits";

    private FusedMoeSchemaBinding(
        DataViewSchema input, DataViewSchema output, DataViewSchema.Column hidden, DataViewSchema.Column? ids,
        DataViewSchema.Column? weights, DataViewSchema.Column? logits, int hiddenSize, int topK)
    {
        InputSchema = input;
        OutputSchema = output;
        Hidden = hidden;
        ExpertIds = ids;
        RoutingWeights = weights;
        RouterLogits = logits;
        HiddenSize = hiddenSize;
        TopK = topK;
    }

    public DataViewSchema InputSchema { get; }

    public DataViewSchema OutputSchema { get; }

    /// <summary>Index of the output column in <see cref="OutputSchema"/> (the last one).</summary>
    public int OutputIndex => InputSchema.Count;

    public DataViewSchema.Column Hidden { get; }

    public DataViewSchema.Column? ExpertIds { get; }

    public DataViewSchema.Column? RoutingWeights { get; }

    public DataViewSchema.Column? RouterLogits { get; }

    /// <summary>H.</summary>
    public int HiddenSize { get; }

    /// <summary>K.</summary>
    public int TopK { get; }

    /// <summary>The input columns the output is computed from.</summary>
    public IEnumerable<DataViewSchema.Column> MoeInputColumns =>
        new[] { Hidden, ExpertIds, RoutingWeights, RouterLogits }.Where(c => c is not null).Select(c => c!.Value);

    /// <summary>Binds <paramref name="input"/>; <paramref name="topK"/> null means K is the ids column's length.</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type or length; the message names it.</exception>
    public static FusedMoeSchemaBinding Bind(
        DataViewSchema input, FusedMoeTransformerOptions options, MoeLayerConfig layer, int? topK)
    {
        ArgumentNullException.ThrowIfNull(input);
        DataViewSchema.Column hidden = Require(input, options.HiddenStatesColumnName, HiddenRole, NumberDataViewType.Single, layer.Hidden);
        DataViewSchema.Column? ids = null, weights = null, logits = null;
        if (options.UsesRouter)
        {
            logits = Require(input, options.RouterLogitsColumnName!, LogitsRole, NumberDataViewType.Single, layer.NumExperts);
        }
        else
        {
            ids = Require(input, options.ExpertIdsColumnName!, IdsRole, NumberDataViewType.Int32, topK);
            topK ??= ((VectorDataViewType)ids.Value.Type).Size;
            weights = Require(input, options.RoutingWeightsColumnName!, WeightsRole, NumberDataViewType.Single, topK);
        }
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        builder.AddColumn(options.OutputColumnName, new VectorDataViewType(NumberDataViewType.Single, layer.Hidden));
        return new FusedMoeSchemaBinding(input, builder.ToSchema(), hidden, ids, weights, logits, layer.Hidden, topK!.Value);
    }

    /// <summary>The estimator's output shape for <paramref name="input"/> (types and kinds only: a shape has no lengths).</summary>
    /// <exception cref="ArgumentOutOfRangeException">A column is missing or has the wrong type; the message names it.</exception>
    public static SchemaShape Bind(SchemaShape input, FusedMoeTransformerOptions options)
    {
        ArgumentNullException.ThrowIfNull(input);
        Require(input, options.HiddenStatesColumnName, HiddenRole, NumberDataViewType.Single);
        if (options.UsesRouter)
        {
            Require(input, options.RouterLogitsColumnName!, LogitsRole, NumberDataViewType.Single);
        }
        else
        {
            Require(input, options.ExpertIdsColumnName!, IdsRole, NumberDataViewType.Int32);
            Require(input, options.RoutingWeightsColumnName!, WeightsRole, NumberDataViewType.Single);
        }
        var columns = input.Where(c => c.Name != options.OutputColumnName).ToList();
        columns.Add(VectorColumn(options.OutputColumnName, NumberDataViewType.Single));
        return new SchemaShape(columns);
    }

    private static DataViewSchema.Column Require(DataViewSchema schema, string name, string role, PrimitiveDataViewType item, int? length)
    {
        string expected = Expected(item, length);
        DataViewSchema.Column column = schema.GetColumnOrNull(name)
            ?? throw Mismatch($"Column '{name}' ({role}) was not found in the input schema; expected {expected}.");
        if (column.Type is not VectorDataViewType vector || !vector.IsKnownSize || vector.Dimensions.Length != 1 ||
            !vector.ItemType.Equals(item) || (length is int n && vector.Size != n))
        {
            throw Mismatch($"Column '{name}' ({role}) has type {column.Type}; expected {expected}.");
        }
        return column;
    }

    private static void Require(SchemaShape shape, string name, string role, PrimitiveDataViewType item)
    {
        string expected = Expected(item, null);
        SchemaShape.Column? found = shape.Where(c => c.Name == name).Select(c => (SchemaShape.Column?)c).LastOrDefault();
        SchemaShape.Column column = found
            ?? throw Mismatch($"Column '{name}' ({role}) was not found in the input schema; expected {expected}.");
        if (column.Kind != SchemaShape.Column.VectorKind.Vector || column.IsKey || !column.ItemType.Equals(item))
        {
            throw Mismatch($"Column '{name}' ({role}) has type {ShapeText(column)}; expected {expected}.");
        }
    }

    private static string Expected(PrimitiveDataViewType item, int? length) => length is int n
        ? $"Vector<{item}, {n.ToString(CultureInfo.InvariantCulture)}> (VBuffer<{CSharpName(item)}> of known size {n.ToString(CultureInfo.InvariantCulture)})"
        : $"Vector<{item}> of known size (VBuffer<{CSharpName(item)}>)";

    private static string CSharpName(PrimitiveDataViewType item) => item.RawType == typeof(int) ? "int" : "float";

    private static string ShapeText(SchemaShape.Column column)
    {
        string item = column.IsKey ? $"Key<{column.ItemType}>" : $"{column.ItemType}";
        return column.Kind switch
        {
            SchemaShape.Column.VectorKind.Scalar => item,
            SchemaShape.Column.VectorKind.Vector => $"Vector<{item}> of known size",
            _ => $"Vector<{item}> of variable size",
        };
    }

    private static ArgumentOutOfRangeException Mismatch(string message) => new("inputSchema", message);

    /// <summary>
    /// A known-size vector column of a <see cref="SchemaShape"/>. ML.NET keeps <see cref="SchemaShape.Column"/>'s
    /// constructor internal (dotnet-integration.md), so it is reached by reflection; its signature has been the same
    /// since ML.NET 1.0.
    /// </summary>
    private static SchemaShape.Column VectorColumn(string name, DataViewType itemType)
    {
        ConstructorInfo constructor = typeof(SchemaShape.Column).GetConstructor(
            BindingFlags.Instance | BindingFlags.NonPublic, null,
            [typeof(string), typeof(SchemaShape.Column.VectorKind), typeof(DataViewType), typeof(bool), typeof(SchemaShape)], null)
            ?? throw new MissingMethodException(
                "This ML.NET version has no SchemaShape.Column(string, VectorKind, DataViewType, bool, SchemaShape) constructor; " +
                "Microsoft.ML.B12x was built against ML.NET 5.");
        object? column = constructor.Invoke([name, SchemaShape.Column.VectorKind.Vector, itemType, false, new SchemaShape([])]);
        return column is SchemaShape.Column result ? result : throw new InvalidOperationException("SchemaShape.Column construction failed.");
    }
}
