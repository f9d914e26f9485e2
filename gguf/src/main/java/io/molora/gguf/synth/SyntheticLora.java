package io.molora.gguf.synth;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.TensorSources;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Comparator;
import java.util.List;
import java.util.Set;

/**
 * LoRA adapters for {@link SyntheticModel}s in the format convert_lora_to_gguf.py writes and
 * llama_adapter_lora_init reads: general.type=adapter, adapter.type=lora, adapter.lora.alpha
 * (FLOAT32), general.architecture=llama, and per target X the tensors X.lora_a with ne
 * [n_in, r] and X.lora_b with ne [r, n_out] (token_embd: A is [r, n_vocab] and B is
 * [r, n_embd], see llm_build_inp_embd). llama.cpp applies
 * {@code W·h + (alpha / r) · B·(A·h)}.
 */
public final class SyntheticLora {
    private final GgufWriter writer;

    private SyntheticLora(GgufWriter writer) {
        this.writer = writer;
    }

    public void write(Path path) throws IOException {
        writer.write(path);
    }

    public long expectedFileSize() {
        return writer.plannedSize();
    }

    public GgufWriter writer() {
        return writer;
    }

    private static GgufWriter header(String name, float alpha) {
        return new GgufWriter()
                .put("general.architecture", "llama")
                .put("general.type", "adapter")
                .put("general.name", name)
                .put("adapter.type", "lora")
                .put("adapter.lora.alpha", GgufValue.of(alpha));
    }

    /** A seeded random adapter for every target in {@code spec} (every layer for per-layer targets). */
    public static SyntheticLora random(LlamaConfig config, LoraSpec spec) {
        GgufWriter w = header(spec.name(), spec.alpha());
        int r = spec.rank();
        List<LoraTarget> ordered = spec.targets().stream().sorted(Comparator.naturalOrder()).toList();
        for (int layer = 0; layer < config.blockCount(); layer++) {
            for (LoraTarget t : ordered) {
                if (t.perLayer()) {
                    addRandomPair(w, config, spec, t.tensorName(layer), t);
                }
            }
        }
        for (LoraTarget t : ordered) {
            if (!t.perLayer()) {
                addRandomPair(w, config, spec, t.tensorName(0), t);
            }
        }
        return new SyntheticLora(w);
    }

    private static void addRandomPair(GgufWriter w, LlamaConfig c, LoraSpec spec, String base, LoraTarget t) {
        int r = spec.rank();
        int nIn = t.inputs(c);
        int nOut = t.outputs(c);
        long seedA = SeededUniform.tensorSeed(spec.seed(), base + ".lora_a");
        long seedB = SeededUniform.tensorSeed(spec.seed(), base + ".lora_b");
        float stdA = (float) (1.0 / Math.sqrt(t == LoraTarget.TOKEN_EMBD ? r : nIn));
        float stdB = (float) (spec.strength() / Math.sqrt(r));
        if (t == LoraTarget.TOKEN_EMBD) {
            // A: one rank-r row per token (get_rows), B: [r, n_embd]
            w.addTensor(base + ".lora_a", spec.type(), new long[] {r, c.vocabSize()},
                    TensorSources.ofRows(spec.type(), r, c.vocabSize(), (row, v) -> SeededUniform.fill(seedA, row, stdA, v)));
            w.addTensor(base + ".lora_b", spec.type(), new long[] {r, c.embeddingLength()},
                    TensorSources.ofRows(spec.type(), r, c.embeddingLength(), (row, v) -> {
                        SeededUniform.fill(seedB, row, stdB, v);
                        zeroAnchor(row, v);
                    }));
            return;
        }
        w.addTensor(base + ".lora_a", spec.type(), new long[] {nIn, r},
                TensorSources.ofRows(spec.type(), nIn, r, (row, v) -> SeededUniform.fill(seedA, row, stdA, v)));
        boolean writesResidual = t == LoraTarget.O || t == LoraTarget.DOWN;
        w.addTensor(base + ".lora_b", spec.type(), new long[] {r, nOut},
                TensorSources.ofRows(spec.type(), r, nOut, (row, v) -> {
                    SeededUniform.fill(seedB, row, stdB, v);
                    if (writesResidual) {
                        zeroAnchor(row, v);
                    }
                }));
    }

    /** Keeps the model's anchor dimension untouched so boost adapters still work when stacked. */
    private static void zeroAnchor(long outputRow, float[] v) {
        if (outputRow == SyntheticModel.ANCHOR_DIM) {
            Arrays.fill(v, 0f);
        }
    }

    /**
     * An adapter on output.weight that makes {@code tokens} the top logits for every input.
     *
     * <p>Why it works: in a {@link SyntheticModel} the residual's anchor dimension d0 is
     * always {@link SyntheticModel#ANCHOR_VALUE} &gt; 0 and output_norm is 1, so the final
     * hidden state h has h[d0] = ANCHOR_VALUE / rms(x) &gt; 0 for every input. This rank-1
     * adapter has A = e_{d0} (A·h = h[d0]) and B[t] = {@code boost} for the chosen tokens, 0
     * otherwise, with alpha = rank = 1 (scale 1). So logit(t) grows by boost · h[d0] &gt; 0 for
     * chosen tokens and by exactly 0 for all others. With h[d0] at least ~0.5 even for the
     * 28-layer benchmark model (rms(x) grows about sqrt(1 + 2·layers)) and base logits of std
     * ~1, a boost of 100 puts the chosen tokens tens of logits above every other token.
     */
    public static SyntheticLora tokenBoost(LlamaConfig config, String name, Set<Integer> tokens, float boost,
                                           GgmlType type) {
        if (tokens.isEmpty()) {
            throw new IllegalArgumentException("choose at least one token");
        }
        if (!(boost > 0) || Float.isInfinite(boost)) {
            throw new IllegalArgumentException("boost must be positive and finite, got " + boost);
        }
        if (type != GgmlType.F32 && type != GgmlType.F16) {
            throw new IllegalArgumentException("adapter type must be F32 or F16, got " + type);
        }
        BitSet chosen = new BitSet(config.vocabSize());
        for (int t : tokens) {
            if (t < 0 || t >= config.vocabSize()) {
                throw new IllegalArgumentException("token " + t + " outside vocabulary of " + config.vocabSize());
            }
            chosen.set(t);
        }
        GgufWriter w = header(name, 1.0f);
        int e = config.embeddingLength();
        w.addTensor("output.weight.lora_a", type, new long[] {e, 1},
                TensorSources.ofRows(type, e, 1, (r, v) -> {
                    Arrays.fill(v, 0f);
                    v[SyntheticModel.ANCHOR_DIM] = 1f;
                }));
        // B has ne [1, n_vocab]: one row of length 1 per token.
        w.addTensor("output.weight.lora_b", type, new long[] {1, config.vocabSize()},
                TensorSources.ofRows(type, 1, config.vocabSize(), (r, v) -> v[0] = chosen.get((int) r) ? boost : 0f));
        return new SyntheticLora(w);
    }

    public static SyntheticLora tokenBoost(LlamaConfig config, Set<Integer> tokens) {
        return tokenBoost(config, "molora-boost", tokens, 100f, GgmlType.F32);
    }
}
