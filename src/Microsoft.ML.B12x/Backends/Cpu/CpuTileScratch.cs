using System;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// One worker's scratch for the FC stages: a decoded weight tile (<see cref="CpuReduction.ReductionChunk"/>·16
/// floats) and one or two accumulator sets (FC1's up and gate rows) of 16 floats per slot of one expert.
/// </summary>
internal sealed unsafe class CpuTileScratch : IDisposable
{
    private readonly NativeFloatBuffer _tile;
    private readonly NativeFloatBuffer[] _accumulators;

    public CpuTileScratch(int accumulatorSets, int maxSlots)
    {
        _tile = new NativeFloatBuffer((long)CpuReduction.ReductionChunk * WeightTileDecoder.TileRows);
        _accumulators = new NativeFloatBuffer[accumulatorSets];
        for (int i = 0; i < accumulatorSets; i++)
        {
            _accumulators[i] = new NativeFloatBuffer((long)maxSlots * WeightTileDecoder.TileRows);
        }
    }

    /// <summary>The decoded tile.</summary>
    public float* Tile => _tile.Pointer;

    /// <summary>Accumulator set <paramref name="index"/>: 16 floats per slot, slot-major.</summary>
    public float* Accumulators(int index) => _accumulators[index].Pointer;

    /// <inheritdoc />
    public void Dispose()
    {
        _tile.Dispose();
        foreach (NativeFloatBuffer accumulators in _accumulators)
        {
            accumulators.Dispose();
        }
    }
}
