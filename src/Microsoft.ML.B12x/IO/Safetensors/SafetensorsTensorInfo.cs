using System.Collections.Generic;

namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>One tensor entry of a safetensors header, validated against the file it came from.</summary>
/// <param name="Name">The tensor's name (the header key).</param>
/// <param name="Dtype">Its element type.</param>
/// <param name="Shape">Its dimensions; empty for a scalar (one element).</param>
/// <param name="DataOffset">Where its bytes start, relative to the data section (after the header).</param>
/// <param name="ByteLength">How many bytes it holds: ElementCount × bit size / 8.</param>
public sealed record SafetensorsTensorInfo(
    string Name, SafetensorsDtype Dtype, IReadOnlyList<long> Shape, long DataOffset, long ByteLength)
{
    /// <summary>The product of <see cref="Shape"/> (1 for a scalar).</summary>
    public long ElementCount
    {
        get
        {
            long count = 1;
            foreach (long dimension in Shape)
            {
                count *= dimension;
            }
            return count;
        }
    }

    /// <summary>The shape as an array, e.g. for TorchSharp factories.</summary>
    public long[] ShapeArray() => [.. Shape];

    /// <summary>The shape as text, e.g. "[8, 256, 64]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
