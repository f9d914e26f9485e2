package io.molora.gguf;

/**
 * One low-rank update in an adapter: tensors {@code base + ".lora_a"} and {@code base + ".lora_b"}.
 * Either side may be null when the adapter is incomplete.
 */
public record LoraPair(String baseTensor, GgufTensorInfo a, GgufTensorInfo b) {
    /** Rank as llama.cpp computes it for scaling (lora_b ne[0]); -1 when B is missing. */
    public long rank() {
        return b == null ? -1 : b.dim(0);
    }

    public boolean complete() {
        return a != null && b != null;
    }
}
