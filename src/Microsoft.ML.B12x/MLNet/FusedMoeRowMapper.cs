using System;
using System.Collections.Generic;
using System.Linq;
using Microsoft.ML.Data;

namespace Microsoft.ML.B12x;

/// <summary>
/// The row-to-row face of a <see cref="FusedMoeTransformer"/> (used by <c>PredictionEngine</c> and transformer
/// chains): the output of a row is computed in a fused call of one row, once per input row position.
/// </summary>
internal sealed class FusedMoeRowMapper : IRowToRowMapper
{
    private readonly FusedMoeTransformer _parent;
    private readonly FusedMoeSchemaBinding _binding;

    public FusedMoeRowMapper(FusedMoeTransformer parent, FusedMoeSchemaBinding binding)
    {
        _parent = parent;
        _binding = binding;
    }

    public DataViewSchema InputSchema => _binding.InputSchema;

    public DataViewSchema OutputSchema => _binding.OutputSchema;

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        ArgumentNullException.ThrowIfNull(dependingColumns);
        var needed = new SortedSet<int>();
        foreach (DataViewSchema.Column column in dependingColumns)
        {
            if (column.Index == _binding.OutputIndex)
            {
                needed.UnionWith(_binding.MoeInputColumns.Select(c => c.Index));
            }
            else if (column.Index >= 0 && column.Index < _binding.OutputIndex)
            {
                needed.Add(column.Index);
            }
        }
        return needed.Select(i => InputSchema[i]).ToList();
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns)
    {
        ArgumentNullException.ThrowIfNull(input);
        ArgumentNullException.ThrowIfNull(activeColumns);
        bool outputActive = activeColumns.Any(c => c.Index == _binding.OutputIndex);
        return new Row(_parent, _binding, input, outputActive);
    }

    /// <summary>An input row with the output column added.</summary>
    private sealed class Row : DataViewRow
    {
        private readonly FusedMoeTransformer _parent;
        private readonly FusedMoeSchemaBinding _binding;
        private readonly DataViewRow _input;
        private readonly bool _outputActive;
        private readonly FusedMoeBatch? _batch;
        private readonly FusedMoeRowReader? _reader;
        private long _computedPosition = -1;

        public Row(FusedMoeTransformer parent, FusedMoeSchemaBinding binding, DataViewRow input, bool outputActive)
        {
            _parent = parent;
            _binding = binding;
            _input = input;
            _outputActive = outputActive;
            if (outputActive)
            {
                _batch = parent.CreateBatch(binding, capacity: 1);
                _reader = new FusedMoeRowReader(input, binding);
            }
        }

        public override long Position => _input.Position;

        public override long Batch => _input.Batch;

        public override DataViewSchema Schema => _binding.OutputSchema;

        public override bool IsColumnActive(DataViewSchema.Column column) =>
            column.Index == _binding.OutputIndex ? _outputActive : _input.IsColumnActive(_input.Schema[column.Index]);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index != _binding.OutputIndex)
            {
                return _input.GetGetter<TValue>(_input.Schema[column.Index]);
            }
            if (!_outputActive)
            {
                throw new InvalidOperationException($"Column '{column.Name}' was not requested as active when the row was made.");
            }
            return FusedMoeOutputGetter.Create<TValue>(column, (ref VBuffer<float> value) =>
            {
                if (_computedPosition != _input.Position || _input.Position < 0)
                {
                    _batch!.Clear();
                    _reader!.ReadInto(_batch);
                    _parent.Run(_batch);
                    _computedPosition = _input.Position;
                }
                FusedMoeOutputGetter.Write(_batch!.OutputRow(0), ref value);
            });
        }

        public override ValueGetter<DataViewRowId> GetIdGetter() => _input.GetIdGetter();
    }
}
