package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_context_params;
import io.molora.bindings.llama.llama_perf_context_data;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An inference context ({@code llama_context *}): the KV cache and compute buffers for one model. Not thread-safe:
 * one thread decodes at a time.
 */
public final class Context implements AutoCloseable {
    private final Model model;
    private final NativeHandle handle;
    private final ContextParams params;
    private final int contextSize;
    private final int batchSize;
    private final int vocabSize;
    private final int embeddingSize;

    private Context(Model model, MemorySegment ctx, ContextParams params) {
        this.model = model;
        this.handle = new NativeHandle("context", ctx, c -> llama_free(c));
        this.params = params;
        this.contextSize = llama_n_ctx(ctx);
        this.batchSize = llama_n_batch(ctx);
        this.vocabSize = model.tokenizer().vocabSize();
        this.embeddingSize = model.embeddingSize();
        model.contextOpened();
    }

    public static Context create(Model model, ContextParams params) {
        if (params.ubatchSize() > params.batchSize()) {
            throw new IllegalArgumentException("ubatch size " + params.ubatchSize() + " exceeds batch size " + params.batchSize());
        }
        try (Arena arena = Arena.ofConfined()) {
            // struct llama_context_params
            MemorySegment p = llama_context_default_params(arena);
            llama_context_params.n_ctx(p, params.contextSize());
            llama_context_params.n_batch(p, params.batchSize());
            llama_context_params.n_ubatch(p, params.ubatchSize());
            llama_context_params.n_seq_max(p, params.maxSequences());
            llama_context_params.n_threads(p, params.effectiveThreads());
            llama_context_params.n_threads_batch(p, params.effectiveBatchThreads());
            llama_context_params.embeddings(p, params.embeddings());
            llama_context_params.no_perf(p, false);
            // struct llama_context *
            MemorySegment ctx = llama_init_from_model(model.pointer(), p);
            if (ctx.equals(MemorySegment.NULL)) {
                throw new LlamaException("llama.cpp could not create a context of " + params.contextSize()
                        + " tokens (out of memory? try a smaller -c)");
            }
            return new Context(model, ctx, params);
        }
    }

    /**
     * Runs the model over the batch. Token ids are checked first (an out-of-range id would make llama.cpp read out
     * of bounds).
     *
     * @throws ContextFullException when the KV cache has no room for the batch
     */
    public void decode(Batch batch) {
        MemorySegment ctx = pointer();
        int n = batch.size();
        if (n == 0) {
            throw new IllegalArgumentException("cannot decode an empty batch");
        }
        if (n > batchSize) {
            throw new IllegalArgumentException("batch of " + n + " tokens exceeds the context's batch size " + batchSize);
        }
        for (int i = 0; i < n; i++) {
            int t = batch.token(i);
            if (t < 0 || t >= vocabSize) {
                throw new IllegalArgumentException("token id " + t + " at batch index " + i
                        + " is outside the vocabulary [0, " + vocabSize + ")");
            }
        }
        int rc = llama_decode(ctx, batch.struct());
        switch (rc) {
            case 0 -> { }
            case 1 -> throw new ContextFullException("no room in the KV cache for " + n + " more tokens (context size "
                    + contextSize + "); use a larger -c or start a new conversation");
            case 2 -> throw new LlamaException("decode aborted");
            default -> throw new LlamaException("llama_decode failed with code " + rc
                    + " (invalid batch: positions must continue each sequence)");
        }
    }

    /**
     * Logits of output {@code i} of the last decode (batch index, or -1 for the last output) as a read-only view
     * valid until the next decode.
     */
    public MemorySegment logitsView(int i) {
        // float * (n_vocab floats)
        MemorySegment p = llama_get_logits_ith(pointer(), i);
        if (p.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("no logits for batch index " + i + " (was it marked as output?)");
        }
        return p.reinterpret((long) vocabSize * Float.BYTES).asReadOnly();
    }

    /** A copy of {@link #logitsView}. */
    public float[] logits(int i) {
        return logitsView(i).toArray(ValueLayout.JAVA_FLOAT);
    }

    /** The final hidden state of output {@code i} (needs {@link ContextParams#embeddings()}), copied. */
    public float[] embedding(int i) {
        if (!params.embeddings()) {
            throw new IllegalStateException("context was created without embeddings");
        }
        MemorySegment p = llama_get_embeddings_ith(pointer(), i);
        if (p.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException("no embedding for batch index " + i);
        }
        return p.reinterpret((long) embeddingSize * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
    }

    /** Forgets every sequence's tokens. */
    public void clearMemory() {
        llama_memory_clear(llama_get_memory(pointer()), true);
    }

    /** Removes positions [from, to) of a sequence ({@code to} = -1: to the end); seq -1 = every sequence. */
    public boolean removeTokens(int seq, int from, int to) {
        return llama_memory_seq_rm(llama_get_memory(pointer()), seq, from, to);
    }

    /** The last position stored for the sequence, or -1 when it is empty. */
    public int lastPosition(int seq) {
        return llama_memory_seq_pos_max(llama_get_memory(pointer()), seq);
    }

    /** llama.cpp's own counters: prompt/generated tokens, times, and how often a compute graph was reused. */
    public PerfCounters perf() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = llama_perf_context(arena, pointer());
            return new PerfCounters(llama_perf_context_data.n_p_eval(d), llama_perf_context_data.n_eval(d),
                    llama_perf_context_data.n_reused(d), llama_perf_context_data.t_p_eval_ms(d),
                    llama_perf_context_data.t_eval_ms(d));
        }
    }

    public void resetPerf() {
        llama_perf_context_reset(pointer());
    }

    public int contextSize() {
        return contextSize;
    }

    public int batchSize() {
        return batchSize;
    }

    public int vocabSize() {
        return vocabSize;
    }

    public ContextParams params() {
        return params;
    }

    public Model model() {
        return model;
    }

    /** {@code struct llama_context *}; for this package's classes only. */
    MemorySegment pointer() {
        return handle.get();
    }

    public boolean isOpen() {
        return handle.isOpen();
    }

    @Override
    public void close() {
        if (handle.isOpen()) {
            handle.release();
            model.contextClosed();
        }
    }

    /** llama.cpp's performance counters for a context. */
    public record PerfCounters(int promptTokens, int generatedTokens, int graphReuses, double promptMillis,
            double generationMillis) {}
}
