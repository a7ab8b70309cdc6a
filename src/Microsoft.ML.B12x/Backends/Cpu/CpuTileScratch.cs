using System;

namespace Microsoft.ML.B12x.Backends.Cpu;

/// <summary>
/// One worker's scratch for the FC stages: up to two decoded weight tiles (FC1's up and gate rows) and their
/// accumulators for every slot of one expert (16 floats per slot per tile).
/// </summary>
internal sealed unsafe class CpuTileScratch : IDisposable
{
    private readonly NativeFloatBuffer[] _tiles;
    private readonly NativeFloatBuffer[] _accumulators;

    public CpuTileScratch(int tileCount, int reductionChunk, int maxSlots)
    {
        _tiles = new NativeFloatBuffer[tileCount];
        _accumulators = new NativeFloatBuffer[tileCount];
        for (int i = 0; i < tileCount; i++)
        {
            _tiles[i] = new NativeFloatBuffer((long)reductionChunk * WeightTileDecoder.TileRows);
            _accumulators[i] = new NativeFloatBuffer((long)maxSlots * WeightTileDecoder.TileRows);
        }
    }

    /// <summary>Decoded tile <paramref name="index"/>: reductionChunk·16 floats.</summary>
    public float* Tile(int index) => _tiles[index].Pointer;

    /// <summary>Accumulators of tile <paramref name="index"/>: 16 floats per slot, slot-major.</summary>
    public float* Accumulators(int index) => _accumulators[index].Pointer;

    /// <inheritdoc />
    public void Dispose()
    {
        for (int i = 0; i < _tiles.Length; i++)
        {
            _tiles[i].Dispose();
            _accumulators[i].Dispose();
        }
    }
}
