using System;
using Microsoft.ML.B12x.TorchSharp;
using TorchSharp;

namespace Microsoft.ML.B12x.IO.Safetensors;

/// <summary>
/// The header spellings, bit widths and TorchSharp counterparts of <see cref="SafetensorsDtype"/>. Spellings and
/// widths follow the safetensors format description (huggingface/safetensors, <c>Dtype</c>).
/// </summary>
public static class SafetensorsDtypes
{
    /// <summary>The header spelling, e.g. "F8_E4M3".</summary>
    public static string ToName(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.Bool => "BOOL",
        SafetensorsDtype.U8 => "U8",
        SafetensorsDtype.I8 => "I8",
        SafetensorsDtype.F8E4M3 => "F8_E4M3",
        SafetensorsDtype.F8E5M2 => "F8_E5M2",
        SafetensorsDtype.F8E8M0 => "F8_E8M0",
        SafetensorsDtype.I16 => "I16",
        SafetensorsDtype.U16 => "U16",
        SafetensorsDtype.F16 => "F16",
        SafetensorsDtype.BF16 => "BF16",
        SafetensorsDtype.I32 => "I32",
        SafetensorsDtype.U32 => "U32",
        SafetensorsDtype.F32 => "F32",
        SafetensorsDtype.I64 => "I64",
        SafetensorsDtype.U64 => "U64",
        SafetensorsDtype.F64 => "F64",
        SafetensorsDtype.C64 => "C64",
        SafetensorsDtype.F4 => "F4",
        SafetensorsDtype.F6E2M3 => "F6_E2M3",
        SafetensorsDtype.F6E3M2 => "F6_E3M2",
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>Parses a header spelling (case-sensitive, as the format defines it); false for anything else.</summary>
    public static bool TryParse(string name, out SafetensorsDtype dtype)
    {
        foreach (SafetensorsDtype candidate in Enum.GetValues<SafetensorsDtype>())
        {
            if (ToName(candidate) == name)
            {
                dtype = candidate;
                return true;
            }
        }
        dtype = default;
        return false;
    }

    /// <summary>Bits per element: 4 for F4, 6 for the F6 types, else 8 × the byte size.</summary>
    public static int BitSize(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.F4 => 4,
        SafetensorsDtype.F6E2M3 or SafetensorsDtype.F6E3M2 => 6,
        SafetensorsDtype.Bool or SafetensorsDtype.U8 or SafetensorsDtype.I8 or SafetensorsDtype.F8E4M3
            or SafetensorsDtype.F8E5M2 or SafetensorsDtype.F8E8M0 => 8,
        SafetensorsDtype.I16 or SafetensorsDtype.U16 or SafetensorsDtype.F16 or SafetensorsDtype.BF16 => 16,
        SafetensorsDtype.I32 or SafetensorsDtype.U32 or SafetensorsDtype.F32 => 32,
        SafetensorsDtype.I64 or SafetensorsDtype.U64 or SafetensorsDtype.F64 or SafetensorsDtype.C64 => 64,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "Unknown safetensors dtype."),
    };

    /// <summary>
    /// The TorchSharp dtype a tensor of this type is read into, or null when it is not supported: U8 and F8_E4M3 →
    /// Byte (E4M3 scales stay raw bits), BF16 → BFloat16, F16 → Float16, F32 → Float32, I32 → Int32, I64 → Int64.
    /// </summary>
    public static torch.ScalarType? ToScalarType(SafetensorsDtype dtype) => dtype switch
    {
        SafetensorsDtype.U8 or SafetensorsDtype.F8E4M3 => torch.ScalarType.Byte,
        SafetensorsDtype.BF16 => torch.ScalarType.BFloat16,
        SafetensorsDtype.F16 => torch.ScalarType.Float16,
        SafetensorsDtype.F32 => torch.ScalarType.Float32,
        SafetensorsDtype.I32 => torch.ScalarType.Int32,
        SafetensorsDtype.I64 => torch.ScalarType.Int64,
        _ => null,
    };

    /// <summary>
    /// The safetensors type a TorchSharp tensor is written as: Byte → U8, float8_e4m3fn → F8_E4M3, BFloat16 → BF16,
    /// Float16 → F16, Float32 → F32, Int32 → I32, Int64 → I64.
    /// </summary>
    /// <exception cref="NotSupportedException">Any other TorchSharp dtype.</exception>
    public static SafetensorsDtype FromScalarType(torch.ScalarType type) => type switch
    {
        torch.ScalarType.Byte => SafetensorsDtype.U8,
        TensorChecks.Float8E4M3 => SafetensorsDtype.F8E4M3,
        torch.ScalarType.BFloat16 => SafetensorsDtype.BF16,
        torch.ScalarType.Float16 => SafetensorsDtype.F16,
        torch.ScalarType.Float32 => SafetensorsDtype.F32,
        torch.ScalarType.Int32 => SafetensorsDtype.I32,
        torch.ScalarType.Int64 => SafetensorsDtype.I64,
        _ => throw new NotSupportedException(
            $"Tensors of dtype {TensorChecks.DtypeName(type)} cannot be written; supported: Byte, Float8_e4m3fn, BFloat16, Float16, Float32, Int32, Int64."),
    };
}
