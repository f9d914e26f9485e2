package io.molora.gguf.synth;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.TensorSources;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Objects;
import java.util.Optional;

/**
 * A seeded random-weight llama model that llama.cpp can load and run, with a real tokenizer.
 *
 * <p>Weights are uniform with standard deviation 1/sqrt(fan_in) (token embeddings: 1), so
 * every projection keeps activations near unit scale whatever the size; logits therefore vary
 * between tokens (std about 1) instead of collapsing to a flat distribution. Norm weights are
 * 1.0.
 *
 * <p><b>Anchor dimension.</b> Residual dimension {@value #ANCHOR_DIM} is set to
 * {@link #ANCHOR_VALUE} in every token embedding, and the rows of attn_output and ffn_down that
 * write to it are zero, so no layer ever changes it: the final hidden state always has a
 * positive component there (ANCHOR_VALUE / rms(x) &gt; 0). {@link SyntheticLora#tokenBoost}
 * relies on this to build an adapter whose effect is provable for every input.
 *
 * <p>Usage: {@code SyntheticModel.of(LlamaConfig.tiny(32000), TokenizerMetadata.load(vocab), 42).write(path)}.
 */
public record SyntheticModel(LlamaConfig config, TokenizerMetadata tokenizer, long seed, Optional<String> chatTemplate) {

    public static final int ANCHOR_DIM = 0;
    public static final float ANCHOR_VALUE = 4.0f;
    /** A ChatML template; llama.cpp recognises it as "chatml". */
    public static final String CHATML_TEMPLATE =
            "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
            + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    public SyntheticModel {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(tokenizer, "tokenizer");
        Objects.requireNonNull(chatTemplate, "chatTemplate");
        if (tokenizer.vocabSize() != config.vocabSize()) {
            throw new IllegalArgumentException("config vocabSize " + config.vocabSize()
                    + " differs from the tokenizer's " + tokenizer.vocabSize() + " tokens");
        }
    }

    /** With the ChatML chat template. */
    public static SyntheticModel of(LlamaConfig config, TokenizerMetadata tokenizer, long seed) {
        return new SyntheticModel(config, tokenizer, seed, Optional.of(CHATML_TEMPLATE));
    }

    public void write(Path path) throws IOException {
        writer().write(path);
    }

    /** Exact size of the file {@link #write} produces, computed without generating weights. */
    public long expectedFileSize() {
        return writer().plannedSize();
    }

    /** The writer with all metadata and (lazily generated) tensors declared. */
    public GgufWriter writer() {
        LlamaConfig c = config;
        GgufWriter w = new GgufWriter();
        w.put("general.architecture", "llama");
        w.put("general.name", c.name());
        w.put("general.file_type", GgufValue.ofUint32(c.fileType()));
        w.put("llama.vocab_size", GgufValue.ofUint32(c.vocabSize()));
        w.put("llama.context_length", GgufValue.ofUint32(c.contextLength()));
        w.put("llama.embedding_length", GgufValue.ofUint32(c.embeddingLength()));
        w.put("llama.block_count", GgufValue.ofUint32(c.blockCount()));
        w.put("llama.feed_forward_length", GgufValue.ofUint32(c.feedForwardLength()));
        w.put("llama.attention.head_count", GgufValue.ofUint32(c.headCount()));
        w.put("llama.attention.head_count_kv", GgufValue.ofUint32(c.headCountKv()));
        w.put("llama.rope.dimension_count", GgufValue.ofUint32(c.headDimension()));
        w.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(c.rmsNormEpsilon()));
        w.put("llama.rope.freq_base", GgufValue.of(c.ropeFreqBase()));
        w.putAll(tokenizer.entries());
        chatTemplate.ifPresent(t -> w.put("tokenizer.chat_template", t));

        int e = c.embeddingLength();
        matrix(w, "token_embd.weight", e, c.vocabSize(), 1.0f, Role.EMBEDDING);
        norm(w, "output_norm.weight", e);
        matrix(w, "output.weight", e, c.vocabSize(), fanIn(e), Role.PLAIN);
        for (int i = 0; i < c.blockCount(); i++) {
            String p = "blk." + i + ".";
            norm(w, p + "attn_norm.weight", e);
            matrix(w, p + "attn_q.weight", e, e, fanIn(e), Role.PLAIN);
            matrix(w, p + "attn_k.weight", e, c.kvEmbeddingLength(), fanIn(e), Role.PLAIN);
            matrix(w, p + "attn_v.weight", e, c.kvEmbeddingLength(), fanIn(e), Role.PLAIN);
            matrix(w, p + "attn_output.weight", e, e, fanIn(e), Role.WRITES_RESIDUAL);
            norm(w, p + "ffn_norm.weight", e);
            matrix(w, p + "ffn_gate.weight", e, c.feedForwardLength(), fanIn(e), Role.PLAIN);
            matrix(w, p + "ffn_down.weight", c.feedForwardLength(), e, fanIn(c.feedForwardLength()), Role.WRITES_RESIDUAL);
            matrix(w, p + "ffn_up.weight", e, c.feedForwardLength(), fanIn(e), Role.PLAIN);
        }
        return w;
    }

    private enum Role { PLAIN, EMBEDDING, WRITES_RESIDUAL }

    private static float fanIn(int n) {
        return (float) (1.0 / Math.sqrt(n));
    }

    private void matrix(GgufWriter w, String name, int rowLength, int rows, float std, Role role) {
        long tensorSeed = SeededUniform.tensorSeed(seed, name);
        w.addTensor(name, config.weightType(), new long[] {rowLength, rows},
                TensorSources.ofRows(config.weightType(), rowLength, rows, (r, row) -> {
                    if (role == Role.WRITES_RESIDUAL && r == ANCHOR_DIM) {
                        Arrays.fill(row, 0f);
                        return;
                    }
                    SeededUniform.fill(tensorSeed, r, std, row);
                    if (role == Role.EMBEDDING) {
                        row[ANCHOR_DIM] = ANCHOR_VALUE;
                    }
                }));
    }

    private static void norm(GgufWriter w, String name, int n) {
        w.addTensor(name, GgmlType.F32, new long[] {n},
                TensorSources.ofRows(GgmlType.F32, n, 1, (r, row) -> Arrays.fill(row, 1.0f)));
    }
}
