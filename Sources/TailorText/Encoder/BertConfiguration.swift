import Foundation

/// The shape of a BERT-family encoder, read from a Hugging Face `config.json` (the keys keep
/// their Hugging Face names, so a config written by `transformers` reads as is and one written
/// here loads in PyTorch).
public struct BertConfiguration: Sendable, Codable, Equatable {
    /// Rows of the word-embedding table.
    public var vocabSize: Int
    /// Width of every hidden state.
    public var hiddenSize: Int
    /// Encoder layers.
    public var numHiddenLayers: Int
    /// Attention heads per layer (they split `hiddenSize`).
    public var numAttentionHeads: Int
    /// Width of the feed-forward layer.
    public var intermediateSize: Int
    /// The feed-forward activation: `gelu` (exact, erf) is what BERT and MiniLM use.
    public var hiddenAct: String
    /// Longest input the position table covers.
    public var maxPositionEmbeddings: Int
    /// Rows of the token-type table.
    public var typeVocabSize: Int
    /// Layer-norm epsilon.
    public var layerNormEps: Float
    /// Id of the padding token.
    public var padTokenId: Int?
    /// `absolute` is the only position embedding implemented.
    public var positionEmbeddingType: String?
    /// `bert` (also accepted: other model types with BERT's exact layout, such as MiniLM's).
    public var modelType: String?
    /// Dropout inside the encoder, used when fine-tuning.
    public var hiddenDropoutProb: Float?
    /// Dropout on attention probabilities, used when fine-tuning.
    public var attentionProbsDropoutProb: Float?

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", numHiddenLayers = "num_hidden_layers"
        case numAttentionHeads = "num_attention_heads", intermediateSize = "intermediate_size", hiddenAct = "hidden_act"
        case maxPositionEmbeddings = "max_position_embeddings", typeVocabSize = "type_vocab_size"
        case layerNormEps = "layer_norm_eps", padTokenId = "pad_token_id", positionEmbeddingType = "position_embedding_type"
        case modelType = "model_type", hiddenDropoutProb = "hidden_dropout_prob", attentionProbsDropoutProb = "attention_probs_dropout_prob"
    }

    /// A configuration; the defaults are all-MiniLM-L6-v2's.
    public init(vocabSize: Int = 30522, hiddenSize: Int = 384, numHiddenLayers: Int = 6, numAttentionHeads: Int = 12,
                intermediateSize: Int = 1536, hiddenAct: String = "gelu", maxPositionEmbeddings: Int = 512, typeVocabSize: Int = 2,
                layerNormEps: Float = 1e-12, padTokenId: Int? = 0) {
        self.vocabSize = vocabSize
        self.hiddenSize = hiddenSize
        self.numHiddenLayers = numHiddenLayers
        self.numAttentionHeads = numAttentionHeads
        self.intermediateSize = intermediateSize
        self.hiddenAct = hiddenAct
        self.maxPositionEmbeddings = maxPositionEmbeddings
        self.typeVocabSize = typeVocabSize
        self.layerNormEps = layerNormEps
        self.padTokenId = padTokenId
        self.positionEmbeddingType = "absolute"
        self.modelType = "bert"
        self.hiddenDropoutProb = 0.1
        self.attentionProbsDropoutProb = 0.1
    }

    /// Width of one attention head.
    public var headSize: Int { hiddenSize / numAttentionHeads }

    /// Checks what this encoder can run; `file` names the config in errors.
    public func validate(file: String? = nil) throws {
        func bad(_ field: String, _ reason: String, _ hint: String? = nil) -> TextError {
            TextError(.unsupportedConfiguration, file: file, field: field, reason: reason, hint: hint)
        }
        for (name, value) in [("vocab_size", vocabSize), ("hidden_size", hiddenSize), ("num_hidden_layers", numHiddenLayers),
                              ("num_attention_heads", numAttentionHeads), ("intermediate_size", intermediateSize),
                              ("max_position_embeddings", maxPositionEmbeddings), ("type_vocab_size", typeVocabSize)] where value < 1 {
            throw bad(name, "must be at least 1, got \(value)")
        }
        guard hiddenSize % numAttentionHeads == 0 else {
            throw bad("num_attention_heads", "hidden_size \(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        guard hiddenAct == "gelu" else {
            throw bad("hidden_act", "'\(hiddenAct)' is not implemented", "BERT-family checkpoints with the exact (erf) 'gelu' are supported")
        }
        if let type = positionEmbeddingType, type != "absolute" {
            throw bad("position_embedding_type", "'\(type)' is not implemented", "only absolute position embeddings are supported")
        }
        if let type = modelType, !["bert", "minilm"].contains(type) {
            throw bad("model_type", "'\(type)' is not a BERT-layout encoder",
                      "RoBERTa/XLM-R checkpoints (position offsets, SentencePiece vocabularies) are not supported; use a BERT-family model with a WordPiece vocab.txt")
        }
        guard layerNormEps > 0 && layerNormEps.isFinite else { throw bad("layer_norm_eps", "must be positive, got \(layerNormEps)") }
    }

    /// Reads and validates `config.json`.
    public static func load(from url: URL) throws -> BertConfiguration {
        guard let data = try? Data(contentsOf: url) else {
            throw TextError(.missingFile, file: url.path, reason: "cannot read config.json",
                            hint: "a BERT-family checkpoint needs config.json, vocab.txt and model.safetensors")
        }
        let configuration: BertConfiguration
        do { configuration = try JSONDecoder().decode(BertConfiguration.self, from: data) } catch {
            throw TextError(.malformedFile, file: url.path, reason: "not a BERT config (\(error))",
                            hint: "it needs vocab_size, hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act, max_position_embeddings, type_vocab_size and layer_norm_eps")
        }
        try configuration.validate(file: url.path)
        return configuration
    }
}
