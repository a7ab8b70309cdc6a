using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using Microsoft.ML;
using Microsoft.ML.B12x;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace B12x.Samples.Console;

/// <summary>
/// The files the sample reads and writes, as ML.NET data:
/// <list type="bullet">
/// <item>CSV: a header naming each column — <c>x0…x{H-1}</c> (hidden states), then either <c>logit0…logit{E-1}</c>
/// (router logits, routed inside the transformer) or <c>id0…id{K-1}</c> and <c>w0…w{K-1}</c> (expert ids and routing
/// weights) — and one token per line; read with ML.NET's text loader.</item>
/// <item>Binary: the library's inputs file (safetensors: <c>x</c> BF16 [T, H], <c>token_selected_experts</c>,
/// <c>token_final_scales</c>) in, the output file (<c>output</c> BF16 [T, H]) out.</item>
/// </list>
/// </summary>
internal static class HiddenStatesFiles
{
    public const string HiddenColumn = "HiddenStates", IdsColumn = "ExpertIds", WeightsColumn = "RoutingWeights", LogitsColumn = "RouterLogits";

    /// <summary>A loaded input: the view, its token count and whether it carries router logits.</summary>
    public sealed record Input(IDataView View, long Tokens, bool HasRouterLogits);

    public static bool IsCsv(string path) => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase);

    public static Input Load(MLContext mlContext, string path, int hidden) =>
        IsCsv(path) ? LoadCsv(mlContext, path, hidden) : LoadInputsFile(mlContext, path, hidden);

    private static Input LoadCsv(MLContext mlContext, string path, int hidden)
    {
        string header = File.ReadLines(path).FirstOrDefault() ?? throw new InvalidDataException($"{path} is empty.");
        string[] names = header.Split(',');
        int Count(string prefix) => names.Count(n => n.StartsWith(prefix, StringComparison.Ordinal) && int.TryParse(n.AsSpan(prefix.Length), out _));
        int xs = Count("x"), logits = Count("logit"), ids = Count("id"), weights = Count("w");
        if (xs != hidden || xs + logits + ids + weights != names.Length || (logits > 0) == (ids > 0) || ids != weights)
        {
            throw new InvalidDataException(
                $"{path}: the header must name x0..x{hidden - 1} (the layer's H = {hidden}), then logit0..logit{{E-1}} or id0..id{{K-1}} and w0..w{{K-1}}; " +
                $"got {xs} x, {logits} logit, {ids} id and {weights} w columns.");
        }
        var columns = new List<TextLoader.Column> { new(HiddenColumn, DataKind.Single, 0, hidden - 1) };
        if (logits > 0)
        {
            columns.Add(new TextLoader.Column(LogitsColumn, DataKind.Single, hidden, hidden + logits - 1));
        }
        else
        {
            columns.Add(new TextLoader.Column(IdsColumn, DataKind.Int32, hidden, hidden + ids - 1));
            columns.Add(new TextLoader.Column(WeightsColumn, DataKind.Single, hidden + ids, hidden + 2 * ids - 1));
        }
        IDataView view = mlContext.Data.LoadFromTextFile(path, columns.ToArray(), separatorChar: ',', hasHeader: true);
        return new Input(view, File.ReadLines(path).LongCount() - 1, logits > 0);
    }

    private static Input LoadInputsFile(MLContext mlContext, string path, int hidden)
    {
        using MoeInputs inputs = InputsFile.Load(path);
        if (inputs.Hidden != hidden)
        {
            throw new InvalidDataException($"{path}: x has H = {inputs.Hidden} but the layer has H = {hidden}.");
        }
        int tokens = inputs.Tokens, topK = inputs.TopK;
        float[] x = inputs.X.to(ScalarType.Float32).contiguous().data<float>().ToArray(); // bf16 widens exactly
        int[] ids = inputs.TokenSelectedExperts.to(ScalarType.Int32).contiguous().data<int>().ToArray();
        float[] weights = inputs.TokenFinalScales.contiguous().data<float>().ToArray();
        var rows = Enumerable.Range(0, tokens).Select(t => new RoutedRow
        {
            HiddenStates = x.AsSpan(t * hidden, hidden).ToArray(),
            ExpertIds = ids.AsSpan(t * topK, topK).ToArray(),
            RoutingWeights = weights.AsSpan(t * topK, topK).ToArray(),
        }).ToList();
        SchemaDefinition schema = SchemaDefinition.Create(typeof(RoutedRow));
        schema[HiddenColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Single, hidden);
        schema[IdsColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Int32, topK);
        schema[WeightsColumn].ColumnType = new VectorDataViewType(NumberDataViewType.Single, topK);
        return new Input(mlContext.Data.LoadFromEnumerable(rows, schema), tokens, HasRouterLogits: false);
    }

    /// <summary>
    /// Reads the output column row by row (this is when the layer runs, batch by batch) and writes it to
    /// <paramref name="path"/>: CSV (<c>y0…y{H-1}</c>) or, for any other extension, an output file.
    /// </summary>
    /// <returns>The rows written.</returns>
    public static long WriteOutput(IDataView view, string column, string path, Action<long> progress)
    {
        DataViewSchema.Column output = view.Schema[column];
        int hidden = ((VectorDataViewType)output.Type).Size;
        using DataViewRowCursor cursor = view.GetRowCursor(new[] { output });
        ValueGetter<VBuffer<float>> getter = cursor.GetGetter<VBuffer<float>>(output);
        VBuffer<float> row = default;
        long rows = 0;
        if (IsCsv(path))
        {
            using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
            writer.WriteLine(string.Join(",", Enumerable.Range(0, hidden).Select(h => $"y{h}")));
            var line = new StringBuilder();
            while (cursor.MoveNext())
            {
                getter(ref row);
                line.Clear();
                foreach (float value in row.DenseValues())
                {
                    line.Append(line.Length == 0 ? "" : ",").Append(value.ToString("R", CultureInfo.InvariantCulture));
                }
                writer.WriteLine(line);
                progress(++rows);
            }
            return rows;
        }
        var values = new List<float>();
        while (cursor.MoveNext())
        {
            getter(ref row);
            values.AddRange(row.DenseValues());
            progress(++rows);
        }
        // Every output value is a widened bfloat16, so the conversion back is exact.
        using Tensor tensor = torch.tensor(values.ToArray(), new long[] { rows, hidden }).to(ScalarType.BFloat16);
        OutputFile.Save(path, tensor);
        return rows;
    }

    /// <summary>One token of an inputs file.</summary>
    private sealed class RoutedRow
    {
        public float[] HiddenStates { get; set; } = [];

        public int[] ExpertIds { get; set; } = [];

        public float[] RoutingWeights { get; set; } = [];
    }
}
