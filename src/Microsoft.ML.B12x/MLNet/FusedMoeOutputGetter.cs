using System;
using Microsoft.ML.Data;

namespace Microsoft.ML.B12x;

/// <summary>The getter of the output column, shared by the batch cursor and the row mapper.</summary>
internal static class FusedMoeOutputGetter
{
    /// <summary>Returns <paramref name="getter"/> typed as asked, or says which type the column has.</summary>
    public static ValueGetter<TValue> Create<TValue>(DataViewSchema.Column column, ValueGetter<VBuffer<float>> getter) =>
        getter as ValueGetter<TValue> ?? throw new InvalidOperationException(
            $"Column '{column.Name}' holds VBuffer<float> ({column.Type}); a getter of {typeof(TValue).Name} was asked for.");

    /// <summary>Copies one output row into <paramref name="value"/> (dense, reusing its buffers).</summary>
    public static void Write(ReadOnlySpan<float> row, ref VBuffer<float> value)
    {
        VBufferEditor<float> editor = VBufferEditor.Create(ref value, row.Length);
        row.CopyTo(editor.Values);
        value = editor.Commit();
    }
}
