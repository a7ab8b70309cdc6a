using System;
using Microsoft.ML.Data;

namespace Microsoft.ML.B12x;

/// <summary>
/// A cursor of a <see cref="FusedMoeDataView"/>. It moves an input cursor for pass-through columns and, when the
/// output column is active, a look-ahead input cursor over the MoE input columns: whenever the input cursor enters a
/// new batch, the look-ahead cursor reads the next <see cref="FusedMoeTransformerOptions.BatchSize"/> rows, one fused
/// call computes them, and rows are served from that batch. Both cursors see the input's rows in the same order.
/// </summary>
internal sealed class FusedMoeBatchCursor : DataViewRowCursor
{
    private readonly FusedMoeTransformer _parent;
    private readonly FusedMoeSchemaBinding _binding;
    private readonly DataViewRowCursor _input;
    private readonly DataViewRowCursor? _lookAhead;
    private readonly FusedMoeBatch? _batch;
    private readonly FusedMoeRowReader? _reader;
    private int _rowInBatch;

    public FusedMoeBatchCursor(
        FusedMoeTransformer parent, FusedMoeSchemaBinding binding, DataViewRowCursor input, DataViewRowCursor? lookAhead)
    {
        _parent = parent;
        _binding = binding;
        _input = input;
        _lookAhead = lookAhead;
        if (lookAhead is not null)
        {
            _batch = parent.CreateBatch(binding, parent.Options.BatchSize);
            _reader = new FusedMoeRowReader(lookAhead, binding);
            _rowInBatch = -1;
        }
    }

    public override long Position => _input.Position;

    public override long Batch => _input.Batch;

    public override DataViewSchema Schema => _binding.OutputSchema;

    public override bool MoveNext()
    {
        if (!_input.MoveNext())
        {
            return false;
        }
        if (_batch is not null && ++_rowInBatch >= _batch.Count)
        {
            FillBatch();
        }
        return true;
    }

    public override bool IsColumnActive(DataViewSchema.Column column) =>
        column.Index == _binding.OutputIndex ? _batch is not null : _input.IsColumnActive(_input.Schema[column.Index]);

    public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
    {
        if (column.Index != _binding.OutputIndex)
        {
            return _input.GetGetter<TValue>(_input.Schema[column.Index]);
        }
        if (_batch is null)
        {
            throw new InvalidOperationException($"Column '{column.Name}' was not requested when the cursor was made.");
        }
        return FusedMoeOutputGetter.Create<TValue>(column, (ref VBuffer<float> value) =>
        {
            if (_input.Position < 0)
            {
                throw new InvalidOperationException("The cursor is not on a row: call MoveNext first.");
            }
            FusedMoeOutputGetter.Write(_batch.OutputRow(_rowInBatch), ref value);
        });
    }

    public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _lookAhead?.Dispose();
            _input.Dispose();
        }
        base.Dispose(disposing);
    }

    /// <summary>Reads the next batch through the look-ahead cursor and runs it.</summary>
    private void FillBatch()
    {
        _batch!.Clear();
        while (!_batch.IsFull && _lookAhead!.MoveNext())
        {
            _reader!.ReadInto(_batch);
        }
        if (_batch.Count == 0)
        {
            throw new InvalidOperationException(
                "The input view gave its two cursors different rows (the look-ahead cursor ended first); a FusedMoeTransformer needs " +
                "a view that yields the same rows in the same order to every cursor.");
        }
        _parent.Run(_batch);
        _rowInBatch = 0;
    }
}
