@_exported import TailorModels
import TailorNN

/// The neural recommenders. Call ``register()`` once at start-up (the `tailor` command does) so
/// the model registry trains and loads them by name like the classic models.
public enum TailorNeural {
    /// Adds the neural models to ``ModelRegistry/shared`` (idempotent).
    public static func register() {
        ModelRegistry.registerShared(TwoTower.self, summary: "two-tower hybrid: ids, attributes, history and content, in-batch softmax with log-Q correction (Yi et al. 2019)",
                                     defaults: .init())
        ModelRegistry.registerShared(Ranker.self, summary: "click-through ranker, deep & cross network over retrieval vectors, attributes, popularity and time (Wang et al. 2021)",
                                     defaults: .init())
        ModelRegistry.registerShared(GRU4Rec.self, summary: "GRU4Rec: a recurrent unit over the latest items predicts the next (Hidasi et al. 2016/2018), full-softmax cross-entropy",
                                     defaults: .init())
        ModelRegistry.registerShared(MultVAE.self, summary: "Mult-VAE: a variational autoencoder over each user's items with a multinomial likelihood and KL annealing (Liang et al. 2018)",
                                     defaults: .init())
        ModelRegistry.registerShared(LightGCN.self, summary: "LightGCN: embeddings propagated over the normalized user-item graph, layers averaged, BPR (He et al. 2020)",
                                     defaults: .init())
        ModelRegistry.registerShared(SASRec.self, summary: "SASRec: causal self-attention over the latest items predicts the next (Kang & McAuley 2018), full-softmax cross-entropy by default",
                                     defaults: .init())
    }
}
