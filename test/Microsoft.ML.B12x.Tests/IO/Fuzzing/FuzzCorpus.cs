using System;
using System.Collections.Generic;
using System.IO;
using System.Text;
using Microsoft.ML.B12x.IO;
using Microsoft.ML.B12x.Tests.Infrastructure;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.Tests.IO.Fuzzing;

/// <summary>
/// The valid files the fuzzers start from, as bytes: two layer files written by <see cref="LayerFile.Save"/> (swizzled
/// NVFP4 silu; a linear W4A16 relu2 expert-parallel shard), inputs files with int32 and int64 ids, an output file,
/// and a hand-written file holding every kind of tensor the format allows (sub-byte F4 and F6, BOOL, a scalar, a
/// zero-sized tensor, unused bytes, metadata).
/// </summary>
internal static class FuzzCorpus
{
    private static readonly Lazy<Seeds> s_seeds = new(Build);

    /// <summary>The seed files by kind.</summary>
    public sealed record Seeds(IReadOnlyList<byte[]> Layers, IReadOnlyList<byte[]> Inputs, IReadOnlyList<byte[]> Outputs, IReadOnlyList<byte[]> Generic)
    {
        public IReadOnlyList<byte[]> All => [.. Layers, .. Inputs, .. Outputs, .. Generic];
    }

    public static Seeds Get() => s_seeds.Value;

    private static Seeds Build()
    {
        using var directory = new TemporaryDirectory();
        using var scope = NewDisposeScope();
        string path = directory.File("seed.safetensors");
        byte[] Saved(Action<string> save)
        {
            save(path);
            return File.ReadAllBytes(path);
        }

        MoeLayerConfig shard = LayerFixtures.Config(ScaleLayout.Linear, MoeActivation.Relu2, MoeQuantMode.W4A16, experts: 3, hidden: 48, intermediate: 32)
            with { NumExperts = 5, LocalExpertOffset = 1 };
        byte[][] layers =
        [
            Saved(p => LayerFile.Save(p, LayerFixtures.Layer(LayerFixtures.Config(), seed: 3))),
            Saved(p => LayerFile.Save(p, LayerFixtures.Layer(shard, seed: 4))),
        ];
        byte[][] inputs =
        [
            Saved(p => InputsFile.Save(p, new MoeInputs(randn(3, 32).to(ScalarType.BFloat16), tensor(new[] { 0, 2, 1, 1, 2, 0 }, new long[] { 3, 2 }), rand(3, 2)))),
            Saved(p => InputsFile.Save(p, new MoeInputs(randn(2, 48).to(ScalarType.BFloat16), tensor(new long[] { 4, -1 }, new long[] { 2, 1 }), rand(2, 1)))),
        ];
        byte[][] outputs = [Saved(p => OutputFile.Save(p, randn(3, 32).to(ScalarType.BFloat16)))];
        return new Seeds(layers, inputs, outputs, [Generic()]);
    }

    /// <summary>Every dtype family, a scalar, an empty tensor and a gap of unused bytes between tensors.</summary>
    private static byte[] Generic()
    {
        string header =
            "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"é\"}," +
            "\"u8\":{\"dtype\":\"U8\",\"shape\":[2,3],\"data_offsets\":[0,6]}," +
            "\"flag\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[6,8]}," +
            "\"f4\":{\"dtype\":\"F4\",\"shape\":[4,2],\"data_offsets\":[8,12]}," +
            "\"f6\":{\"dtype\":\"F6_E2M3\",\"shape\":[4],\"data_offsets\":[12,15]}," +
            "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[2,2],\"data_offsets\":[16,24]}," +
            "\"scalar\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[24,28]}," +
            "\"empty\":{\"dtype\":\"I64\",\"shape\":[0,5],\"data_offsets\":[28,28]}," +
            "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[32,48]}," +
            "\"c64\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[48,56]}}";
        var data = new byte[56];
        new Random(1).NextBytes(data);
        return EditableSafetensors.Assemble(Encoding.UTF8.GetBytes(header), data);
    }
}
