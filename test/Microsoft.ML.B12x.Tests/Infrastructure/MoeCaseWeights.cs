using Microsoft.ML.B12x.IO;

namespace Microsoft.ML.B12x.Tests.Infrastructure;

/// <summary>A generated case's layer as <see cref="MoeWeights"/>, for plans, modules and ML.NET tests.</summary>
internal static class MoeCaseWeights
{
    /// <summary>Fresh CPU weights of the case's layer (the caller disposes them).</summary>
    public static MoeWeights Create(MoeCaseData data)
    {
        MoeTensors t = MoeTensors.From(data);
        var config = new MoeLayerConfig
        {
            Hidden = data.Hidden, Intermediate = data.Intermediate, NumExperts = data.NumExperts,
            NumLocalExperts = data.LocalExperts, LocalExpertOffset = data.LocalOffset, TopK = data.TopK,
            Activation = data.Activation, QuantMode = data.QuantMode, SourceFormat = data.SourceFormat, ScaleLayout = data.Layout,
        };
        t.X.Dispose();
        t.TokenSelectedExperts.Dispose();
        t.TokenFinalScales.Dispose();
        return new MoeWeights(new MoeLayerData(
            config, t.W1Weight, t.W1WeightSf, t.W2Weight, t.W2WeightSf, t.W1Alpha, t.W2Alpha,
            t.Options.Fc2InputScale, t.Options.InputGlobalScale));
    }
}
