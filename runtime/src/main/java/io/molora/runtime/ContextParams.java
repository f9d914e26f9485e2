package io.molora.runtime;

import java.util.Objects;

/**
 * How to create a context.
 *
 * @param contextSize    KV cache size in tokens, 0 = the model's trained length (llama.cpp's {@code -c})
 * @param batchSize      most tokens one {@code decode} call may submit ({@code -b})
 * @param ubatchSize     most tokens computed at once; larger batches are split ({@code -ub})
 * @param maxSequences   sequences that may share the context ({@code -np})
 * @param threads        threads for single-token generation ({@code -t}); 0 = available processors
 * @param batchThreads   threads for prompt processing ({@code -tb}); 0 = same as threads
 * @param embeddings     also return the final hidden state of each output token (learned routers read it)
 * @param flashAttention fused attention kernel ({@code -fa}); llama.cpp's default is {@link FlashAttention#AUTO}
 * @param typeK          KV cache type of the keys ({@code -ctk}); llama.cpp's default is F16
 * @param typeV          KV cache type of the values ({@code -ctv}); a quantized one needs flash attention
 */
public record ContextParams(int contextSize, int batchSize, int ubatchSize, int maxSequences, int threads,
        int batchThreads, boolean embeddings, FlashAttention flashAttention, KvCacheType typeK, KvCacheType typeV) {
    public ContextParams {
        require(contextSize >= 0, "contextSize must be >= 0 (0 = from model), got " + contextSize);
        require(batchSize >= 1, "batchSize must be >= 1, got " + batchSize);
        require(ubatchSize >= 1, "ubatchSize must be >= 1, got " + ubatchSize);
        require(maxSequences >= 1 && maxSequences <= 256, "maxSequences must be in [1, 256], got " + maxSequences);
        require(threads >= 0, "threads must be >= 0, got " + threads);
        require(batchThreads >= 0, "batchThreads must be >= 0, got " + batchThreads);
        Objects.requireNonNull(flashAttention, "flashAttention");
        Objects.requireNonNull(typeK, "typeK");
        Objects.requireNonNull(typeV, "typeV");
        require(!typeV.quantized() || flashAttention != FlashAttention.OFF,
                "a quantized V cache (" + typeV + ") needs flash attention (not -fa off)");
    }

    /** llama.cpp's defaults: 4096-token context, batch 2048, ubatch 512, one sequence, flash attention auto, F16 KV. */
    public static ContextParams defaults() {
        return new ContextParams(4096, 2048, 512, 1, 0, 0, false, FlashAttention.AUTO, KvCacheType.F16, KvCacheType.F16);
    }

    public ContextParams withContextSize(int n) {
        return new ContextParams(n, batchSize, ubatchSize, maxSequences, threads, batchThreads, embeddings,
                flashAttention, typeK, typeV);
    }

    public ContextParams withBatch(int batch, int ubatch) {
        return new ContextParams(contextSize, batch, ubatch, maxSequences, threads, batchThreads, embeddings,
                flashAttention, typeK, typeV);
    }

    public ContextParams withMaxSequences(int n) {
        return new ContextParams(contextSize, batchSize, ubatchSize, n, threads, batchThreads, embeddings,
                flashAttention, typeK, typeV);
    }

    public ContextParams withThreads(int t, int tb) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, t, tb, embeddings,
                flashAttention, typeK, typeV);
    }

    public ContextParams withEmbeddings(boolean on) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, threads, batchThreads, on,
                flashAttention, typeK, typeV);
    }

    public ContextParams withFlashAttention(FlashAttention fa) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, threads, batchThreads, embeddings,
                fa, typeK, typeV);
    }

    public ContextParams withKvCacheTypes(KvCacheType k, KvCacheType v) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, threads, batchThreads, embeddings,
                flashAttention, k, v);
    }

    /**
     * Attention computed as exactly as the CPU computes it: flash attention off and an F32 KV cache, so nothing is
     * rounded to F16 between the projections and the softmax. Oracles compare in this setup.
     */
    public ContextParams exactAttention() {
        return withFlashAttention(FlashAttention.OFF).withKvCacheTypes(KvCacheType.F32, KvCacheType.F32);
    }

    int effectiveThreads() {
        return threads > 0 ? threads : Runtime.getRuntime().availableProcessors();
    }

    int effectiveBatchThreads() {
        return batchThreads > 0 ? batchThreads : effectiveThreads();
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }
}
