namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>
/// The element types a safetensors header can name (its <c>dtype</c> strings are given on each member). Every one
/// is recognised and its byte length checked; <see cref="SafetensorsReader.ReadTensor"/> loads U8, F8_E4M3, BF16,
/// F16, F32, I32 and I64 into TorchSharp tensors and rejects the others with a message naming them.
/// </summary>
public enum SafetensorsDtype
{
    /// <summary>"BOOL": one byte per element.</summary>
    Bool,

    /// <summary>"U8": unsigned 8-bit integer (also FP4 codes, two per byte).</summary>
    U8,

    /// <summary>"I8": signed 8-bit integer.</summary>
    I8,

    /// <summary>"F8_E4M3": 8-bit float E4M3 FN (NVFP4 block scales); read into a uint8 tensor of the raw bits.</summary>
    F8E4M3,

    /// <summary>"F8_E5M2": 8-bit float E5M2.</summary>
    F8E5M2,

    /// <summary>"F8_E8M0": 8-bit power-of-two scale (MX formats).</summary>
    F8E8M0,

    /// <summary>"I16": signed 16-bit integer.</summary>
    I16,

    /// <summary>"U16": unsigned 16-bit integer.</summary>
    U16,

    /// <summary>"F16": IEEE binary16.</summary>
    F16,

    /// <summary>"BF16": bfloat16.</summary>
    BF16,

    /// <summary>"I32": signed 32-bit integer.</summary>
    I32,

    /// <summary>"U32": unsigned 32-bit integer.</summary>
    U32,

    /// <summary>"F32": IEEE binary32.</summary>
    F32,

    /// <summary>"I64": signed 64-bit integer.</summary>
    I64,

    /// <summary>"U64": unsigned 64-bit integer.</summary>
    U64,

    /// <summary>"F64": IEEE binary64.</summary>
    F64,

    /// <summary>"C64": complex of two binary32 (8 bytes).</summary>
    C64,

    /// <summary>"F4": 4-bit float E2M1, two elements per byte.</summary>
    F4,

    /// <summary>"F6_E2M3": 6-bit float, four elements per three bytes.</summary>
    F6E2M3,

    /// <summary>"F6_E3M2": 6-bit float, four elements per three bytes.</summary>
    F6E3M2,
}
