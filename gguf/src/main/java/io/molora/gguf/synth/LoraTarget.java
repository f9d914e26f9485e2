package io.molora.gguf.synth;

/** Base tensors a synthetic LoRA can adapt. Per-layer targets apply to every layer. */
public enum LoraTarget {
    Q("attn_q"), K("attn_k"), V("attn_v"), O("attn_output"),
    GATE("ffn_gate"), UP("ffn_up"), DOWN("ffn_down"),
    OUTPUT(null), TOKEN_EMBD(null);

    private final String layerTensor;

    LoraTarget(String layerTensor) {
        this.layerTensor = layerTensor;
    }

    public boolean perLayer() {
        return layerTensor != null;
    }

    /** Base tensor name; {@code layer} is ignored for OUTPUT and TOKEN_EMBD. */
    public String tensorName(int layer) {
        return switch (this) {
            case OUTPUT -> "output.weight";
            case TOKEN_EMBD -> "token_embd.weight";
            default -> "blk." + layer + "." + layerTensor + ".weight";
        };
    }

    /** Input width (base ne[0]) for this target under {@code c}. */
    public int inputs(LlamaConfig c) {
        return this == DOWN ? c.feedForwardLength() : c.embeddingLength();
    }

    /** Output width (base ne[1]) for this target under {@code c}. */
    public int outputs(LlamaConfig c) {
        return switch (this) {
            case Q, O, DOWN -> c.embeddingLength();
            case K, V -> c.kvEmbeddingLength();
            case GATE, UP -> c.feedForwardLength();
            case OUTPUT, TOKEN_EMBD -> c.vocabSize();
        };
    }
}
