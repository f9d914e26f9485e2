package io.molora.runtime;

/**
 * Will a model, its adapters, KV cache and compute buffers fit in a GPU's free memory with {@code -ngl N}? An
 * estimate made before loading, so that a model too big for the card fails with a suggestion instead of an
 * out-of-memory crash in the middle of a run.
 *
 * <p>What llama.cpp puts on the GPU for {@code N} offloaded layers of {@code L}: those layers' weights and KV cache;
 * the output layer too once {@code N > L} (the token embedding stays in host memory); a compute buffer that grows with
 * the ubatch and the context (logits, attention scores). Adapters follow their layers; with per-token routing they
 * are held twice (as loaded, and packed for routing), counted by the caller in {@link Footprint#adapterBytesPerLayer}.
 */
public final class MemoryFit {
    /** Headroom for the CUDA context, cuBLAS workspaces and fragmentation. */
    public static final long RESERVE_BYTES = 512L << 20;

    private MemoryFit() {}

    /**
     * What a model needs, read from its GGUF file.
     *
     * @param layerBytes           weight bytes of each repeating layer
     * @param outputBytes          output projection + output norm
     * @param adapterBytesPerLayer adapter bytes per layer, as they will be held on the device
     * @param kvWidth              n_embd_k + n_embd_v per layer (GQA-aware), in elements
     */
    public record Footprint(long[] layerBytes, long outputBytes, long adapterBytesPerLayer, long kvWidth, long vocabSize,
            long embeddingSize, long headCount) {
        public Footprint {
            layerBytes = layerBytes.clone();
        }

        public int layers() {
            return layerBytes.length;
        }
    }

    /** Device bytes for {@code gpuLayers} offloaded layers (-1 = all), a context of {@code nCtx}, ubatch {@code nUbatch}. */
    public static long required(Footprint f, int gpuLayers, int nCtx, int nUbatch) {
        int layers = gpuLayers < 0 ? f.layers() + 1 : Math.min(gpuLayers, f.layers() + 1);
        int repeating = Math.min(layers, f.layers());
        long bytes = 0;
        // llama.cpp offloads the last `repeating` layers
        for (int i = f.layers() - repeating; i < f.layers(); i++) {
            bytes += f.layerBytes()[i] + f.adapterBytesPerLayer();
        }
        if (layers > f.layers()) {
            bytes += f.outputBytes();
        }
        bytes += (long) repeating * nCtx * f.kvWidth() * 2;  // F16 K and V
        if (layers > 0) {
            bytes += computeBytes(f, nCtx, nUbatch);
        }
        return bytes;
    }

    /** Compute buffer: logits for the ubatch, and one layer's activations and attention scores (no flash attention). */
    static long computeBytes(Footprint f, int nCtx, int nUbatch) {
        long logits = f.vocabSize() * nUbatch * 4L;
        long activations = 8L * f.embeddingSize() * nUbatch * 4L;
        long scores = f.headCount() * (long) nCtx * nUbatch * 4L;
        return logits + activations + scores;
    }

    /** The verdict: fits, or a message with the largest {@code -ngl} and the largest {@code -c} that would fit. */
    public record Verdict(boolean fits, long requiredBytes, long freeBytes, int suggestedGpuLayers, int suggestedContext,
            String message) {}

    public static Verdict check(Footprint f, int gpuLayers, int nCtx, int nUbatch, long freeBytes, String deviceName) {
        long budget = freeBytes - RESERVE_BYTES;
        long need = required(f, gpuLayers, nCtx, nUbatch);
        if (need <= budget) {
            return new Verdict(true, need, freeBytes, gpuLayers, nCtx, "fits");
        }
        int bestLayers = -1;
        for (int n = Math.min(gpuLayers < 0 ? f.layers() + 1 : gpuLayers, f.layers() + 1); n >= 0; n--) {
            if (required(f, n, nCtx, nUbatch) <= budget) {
                bestLayers = n;
                break;
            }
        }
        int bestCtx = -1;
        for (int c = nCtx / 2; c >= 256; c /= 2) {
            if (required(f, gpuLayers, c, Math.min(nUbatch, c)) <= budget) {
                bestCtx = c;
                break;
            }
        }
        StringBuilder msg = new StringBuilder(String.format(
                "model, adapters and a %d-token context need about %s on %s but only %s is free (%s kept in reserve)",
                nCtx, gib(need), deviceName, gib(freeBytes), gib(RESERVE_BYTES)));
        if (bestCtx > 0) {
            msg.append("; try -c ").append(bestCtx);
        }
        if (bestLayers >= 0) {
            msg.append(bestCtx > 0 ? " or " : "; try ").append("-ngl ").append(bestLayers)
                    .append(" (the rest runs on the CPU)");
        }
        return new Verdict(false, need, freeBytes, bestLayers, bestCtx, msg.toString());
    }

    static String gib(long bytes) {
        return String.format("%.2f GiB", bytes / (double) (1L << 30));
    }
}
