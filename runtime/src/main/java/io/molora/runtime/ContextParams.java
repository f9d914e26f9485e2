package io.molora.runtime;

/**
 * How to create a context.
 *
 * @param contextSize  KV cache size in tokens, 0 = the model's trained length (llama.cpp's {@code -c})
 * @param batchSize    most tokens one {@code decode} call may submit ({@code -b})
 * @param ubatchSize   most tokens computed at once; larger batches are split ({@code -ub})
 * @param maxSequences sequences that may share the context ({@code -np})
 * @param threads      threads for single-token generation ({@code -t}); 0 = available processors
 * @param batchThreads threads for prompt processing ({@code -tb}); 0 = same as threads
 * @param embeddings   also return the final hidden state of each output token (learned routers read it)
 */
public record ContextParams(int contextSize, int batchSize, int ubatchSize, int maxSequences, int threads,
        int batchThreads, boolean embeddings) {
    public ContextParams {
        require(contextSize >= 0, "contextSize must be >= 0 (0 = from model), got " + contextSize);
        require(batchSize >= 1, "batchSize must be >= 1, got " + batchSize);
        require(ubatchSize >= 1, "ubatchSize must be >= 1, got " + ubatchSize);
        require(maxSequences >= 1 && maxSequences <= 256, "maxSequences must be in [1, 256], got " + maxSequences);
        require(threads >= 0, "threads must be >= 0, got " + threads);
        require(batchThreads >= 0, "batchThreads must be >= 0, got " + batchThreads);
    }

    /** llama.cpp's defaults: 4096-token context, batch 2048, ubatch 512, one sequence. */
    public static ContextParams defaults() {
        return new ContextParams(4096, 2048, 512, 1, 0, 0, false);
    }

    public ContextParams withContextSize(int n) {
        return new ContextParams(n, batchSize, ubatchSize, maxSequences, threads, batchThreads, embeddings);
    }

    public ContextParams withBatch(int batch, int ubatch) {
        return new ContextParams(contextSize, batch, ubatch, maxSequences, threads, batchThreads, embeddings);
    }

    public ContextParams withMaxSequences(int n) {
        return new ContextParams(contextSize, batchSize, ubatchSize, n, threads, batchThreads, embeddings);
    }

    public ContextParams withThreads(int t, int tb) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, t, tb, embeddings);
    }

    public ContextParams withEmbeddings(boolean on) {
        return new ContextParams(contextSize, batchSize, ubatchSize, maxSequences, threads, batchThreads, on);
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
