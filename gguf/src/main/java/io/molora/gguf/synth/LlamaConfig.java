package io.molora.gguf.synth;

import io.molora.gguf.GgmlType;

/**
 * Hyper-parameters of a synthetic llama-architecture model, validated so that llama.cpp can
 * load the result: heads divide the embedding, kv heads divide heads, rows of quantised
 * weights are whole Q8_0 blocks.
 *
 * @param weightType type of the 2-D weight matrices (F32, F16 or Q8_0); norms stay F32
 */
public record LlamaConfig(String name, int vocabSize, int embeddingLength, int blockCount,
                          int feedForwardLength, int headCount, int headCountKv, int contextLength,
                          float ropeFreqBase, float rmsNormEpsilon, GgmlType weightType) {

    public LlamaConfig {
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("name must be non-blank");
        }
        positive("vocabSize", vocabSize);
        positive("embeddingLength", embeddingLength);
        positive("blockCount", blockCount);
        positive("feedForwardLength", feedForwardLength);
        positive("headCount", headCount);
        positive("headCountKv", headCountKv);
        positive("contextLength", contextLength);
        if (embeddingLength % headCount != 0) {
            throw new IllegalArgumentException("embeddingLength " + embeddingLength + " is not a multiple of headCount " + headCount);
        }
        if (headCount % headCountKv != 0) {
            throw new IllegalArgumentException("headCount " + headCount + " is not a multiple of headCountKv " + headCountKv);
        }
        if ((embeddingLength / headCount) % 2 != 0) {
            throw new IllegalArgumentException("head dimension " + embeddingLength / headCount + " must be even for RoPE");
        }
        if (weightType != GgmlType.F32 && weightType != GgmlType.F16 && weightType != GgmlType.Q8_0) {
            throw new IllegalArgumentException("weightType must be F32, F16 or Q8_0, got " + weightType);
        }
        if (weightType == GgmlType.Q8_0 && (embeddingLength % 32 != 0 || feedForwardLength % 32 != 0)) {
            throw new IllegalArgumentException("Q8_0 needs embeddingLength and feedForwardLength to be multiples of 32");
        }
        if (!(ropeFreqBase > 0) || !(rmsNormEpsilon > 0)) {
            throw new IllegalArgumentException("ropeFreqBase and rmsNormEpsilon must be positive");
        }
    }

    private static void positive(String what, int v) {
        if (v <= 0) {
            throw new IllegalArgumentException(what + " must be positive, got " + v);
        }
    }

    /** A few-MB model for unit tests: n_embd 64, 2 layers, n_ff 128, 4 heads, 2 kv heads. */
    public static LlamaConfig tiny(int vocabSize) {
        return new LlamaConfig("molora-tiny", vocabSize, 64, 2, 128, 4, 2, 512, 10000f, 1e-5f, GgmlType.F32);
    }

    /** About 1.5 B parameters for benchmarks: n_embd 2048, 28 layers, n_ff 6144, 16 heads, 8 kv heads. */
    public static LlamaConfig bench1_5b(int vocabSize) {
        return new LlamaConfig("molora-bench-1.5b", vocabSize, 2048, 28, 6144, 16, 8, 4096, 10000f, 1e-5f, GgmlType.F16);
    }

    public LlamaConfig withWeightType(GgmlType type) {
        return new LlamaConfig(name, vocabSize, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, contextLength, ropeFreqBase, rmsNormEpsilon, type);
    }

    public LlamaConfig withName(String newName) {
        return new LlamaConfig(newName, vocabSize, embeddingLength, blockCount, feedForwardLength, headCount,
                headCountKv, contextLength, ropeFreqBase, rmsNormEpsilon, weightType);
    }

    public int headDimension() {
        return embeddingLength / headCount;
    }

    /** Width of the K and V projections (n_embd_k_gqa). */
    public int kvEmbeddingLength() {
        return headDimension() * headCountKv;
    }

    /** general.file_type (llama_ftype): ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7. */
    public int fileType() {
        return switch (weightType) {
            case F32 -> 0;
            case F16 -> 1;
            case Q8_0 -> 7;
            default -> throw new IllegalStateException();
        };
    }

    /** Total number of weights in all tensors. */
    public long parameterCount() {
        long e = embeddingLength;
        long perLayer = 2 * e + 2 * e * e + 2 * e * kvEmbeddingLength() + 3 * e * feedForwardLength;
        return 2L * vocabSize * e + e + blockCount * perLayer;
    }
}
