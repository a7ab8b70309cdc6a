using System;
using System.Collections.Generic;
using System.Linq;

namespace Microsoft.ML.B12x;

/// <summary>
/// The view a <see cref="FusedMoeTransformer"/> returns: the input's columns plus the output column, computed lazily
/// in batches by a <see cref="FusedMoeBatchCursor"/>. Rows keep the input's order; the view cannot shuffle (a batch is
/// read ahead in the input's order).
/// </summary>
internal sealed class FusedMoeDataView : IDataView
{
    private readonly FusedMoeTransformer _parent;
    private readonly IDataView _source;
    private readonly FusedMoeSchemaBinding _binding;

    public FusedMoeDataView(FusedMoeTransformer parent, IDataView source, FusedMoeSchemaBinding binding)
    {
        _parent = parent;
        _source = source;
        _binding = binding;
    }

    public bool CanShuffle => false;

    public DataViewSchema Schema => _binding.OutputSchema;

    public long? GetRowCount() => _source.GetRowCount();

    /// <summary>
    /// A cursor over the requested columns. Pass-through columns come from one input cursor; only when the output
    /// column is requested, a second, look-ahead input cursor over the MoE input columns is opened to fill batches.
    /// </summary>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        ArgumentNullException.ThrowIfNull(columnsNeeded);
        var needed = columnsNeeded.ToList();
        foreach (DataViewSchema.Column column in needed)
        {
            if (column.Index < 0 || column.Index > _binding.OutputIndex)
            {
                throw new ArgumentOutOfRangeException(
                    nameof(columnsNeeded), $"Column '{column.Name}' (index {column.Index}) is not a column of this view's schema.");
            }
        }
        bool outputActive = needed.Any(c => c.Index == _binding.OutputIndex);
        DataViewRowCursor input = _source.GetRowCursor(
            needed.Where(c => c.Index < _binding.OutputIndex).Select(c => _source.Schema[c.Index]).ToList());
        DataViewRowCursor? lookAhead = null;
        try
        {
            lookAhead = outputActive ? _source.GetRowCursor(_binding.MoeInputColumns.ToList()) : null;
            return new FusedMoeBatchCursor(_parent, _binding, input, lookAhead);
        }
        catch
        {
            lookAhead?.Dispose();
            input.Dispose();
            throw;
        }
    }

    /// <summary>One cursor: batches are read ahead in order, so the rows cannot be split across cursors.</summary>
    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null) =>
        [GetRowCursor(columnsNeeded, rand)];
}
