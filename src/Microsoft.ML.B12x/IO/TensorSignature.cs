using System.Linq;
using Microsoft.ML.B12x.IO.Safetensors;

namespace Microsoft.ML.B12x.IO;

/// <summary>A tensor's stored type and shape: what the file schemas check, whether it comes from a header or a tensor.</summary>
internal readonly record struct TensorSignature(SafetensorsDtype Dtype, long[] Shape)
{
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";

    public string DtypeName => SafetensorsDtypes.ToName(Dtype);

    public bool HasShape(params long[] expected) => Shape.SequenceEqual(expected);

    public static TensorSignature Of(SafetensorsTensorInfo info) => new(info.Dtype, info.ShapeArray());
}
