using System;
using static TorchSharp.torch;

namespace Microsoft.ML.B12x.IO;

/// <summary>
/// The per-call inputs of a MoE layer, as an inputs file holds them (see <see cref="InputsFile"/>). The object owns
/// its tensors: disposing it disposes them.
/// </summary>
public sealed class MoeInputs : IDisposable
{
    /// <summary>Wraps the three input tensors, taking ownership; <see cref="InputsFile.Save"/> validates them.</summary>
    /// <param name="x">Hidden states, bfloat16 [T, H].</param>
    /// <param name="tokenSelectedExperts">Global expert ids, int32 or int64 [T, K].</param>
    /// <param name="tokenFinalScales">Routing weights, float32 [T, K].</param>
    public MoeInputs(Tensor x, Tensor tokenSelectedExperts, Tensor tokenFinalScales)
    {
        X = x ?? throw new ArgumentNullException(nameof(x));
        TokenSelectedExperts = tokenSelectedExperts ?? throw new ArgumentNullException(nameof(tokenSelectedExperts));
        TokenFinalScales = tokenFinalScales ?? throw new ArgumentNullException(nameof(tokenFinalScales));
    }

    /// <summary>Hidden states, bfloat16 [T, H].</summary>
    public Tensor X { get; }

    /// <summary>Global expert ids, int32 or int64 [T, K].</summary>
    public Tensor TokenSelectedExperts { get; }

    /// <summary>Routing weights, float32 [T, K].</summary>
    public Tensor TokenFinalScales { get; }

    /// <summary>T (x.shape[0]).</summary>
    public int Tokens => checked((int)X.shape[0]);

    /// <summary>H (x.shape[1]).</summary>
    public int Hidden => checked((int)X.shape[1]);

    /// <summary>K (token_selected_experts.shape[1]).</summary>
    public int TopK => checked((int)TokenSelectedExperts.shape[1]);

    /// <inheritdoc />
    public void Dispose()
    {
        X.Dispose();
        TokenSelectedExperts.Dispose();
        TokenFinalScales.Dispose();
    }
}
