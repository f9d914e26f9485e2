package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_context_params;
import io.molora.bindings.llama.llama_perf_context_data;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.OptionalInt;

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
    private int routedAdapters;
    private int routedK;

    private Context(Model model, MemorySegment ctx, ContextParams params) {
        this.model = model;
        this.handle = new NativeHandle("context", ctx, c -> {
            llama_free(c);
            model.dependentClosed();  // the model may close once its last dependent is gone
        });
        this.params = params;
        this.contextSize = llama_n_ctx(ctx);
        this.batchSize = llama_n_batch(ctx);
        this.vocabSize = model.tokenizer().vocabSize();
        this.embeddingSize = model.embeddingSize();
        model.dependentOpened();
    }

    public static Context create(Model model, ContextParams params) {
        if (params.ubatchSize() > params.batchSize()) {
            throw new IllegalArgumentException("ubatch size " + params.ubatchSize() + " exceeds batch size " + params.batchSize());
        }
        if (params.flashAttention() != FlashAttention.OFF) {
            // llama.cpp refuses a quantized cache whose blocks do not divide the head width (and says so only in its log)
            checkCacheType(model, params.typeK(), true, "-ctk");
            checkCacheType(model, params.typeV(), false, "-ctv");
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
            llama_context_params.flash_attn_type(p, params.flashAttention().nativeValue);
            llama_context_params.type_k(p, params.typeK().ggmlType);
            llama_context_params.type_v(p, params.typeV().ggmlType);
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

    private static void checkCacheType(Model model, KvCacheType type, boolean k, String flag) {
        OptionalInt head = model.headSize(k);
        if (type.quantized() && head.isPresent() && head.getAsInt() % type.blockSize() != 0) {
            throw new IllegalArgumentException("KV cache type " + type + " (" + flag + ") stores blocks of "
                    + type.blockSize() + " values, which do not divide this model's attention head width of "
                    + head.getAsInt() + "; use f16, bf16 or f32");
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

    /**
     * Stock llama.cpp adapter application: every listed adapter, at its scale, on every token. Changing this set
     * rebuilds the compute graph (llama.cpp re-reserves its scheduler).
     */
    public void setAdapters(java.util.List<LoraAdapter> adapters, float[] scales) {
        if (adapters.size() != scales.length) {
            throw new IllegalArgumentException(adapters.size() + " adapters but " + scales.length + " scales");
        }
        try (Arena arena = Arena.ofConfined()) {
            // struct llama_adapter_lora ** and float *
            MemorySegment ptrs = adapterPointers(arena, adapters);
            MemorySegment s = arena.allocateFrom(ValueLayout.JAVA_FLOAT, scales);
            int rc = llama_set_adapters_lora(pointer(), ptrs, adapters.size(), s);
            if (rc != 0) {
                throw new LlamaException("llama.cpp could not set " + adapters.size() + " adapter(s) (code " + rc + ")");
            }
        }
    }

    /**
     * Registers the adapters per-token routes refer to (route id i = {@code adapters.get(i)}), each at its user scale;
     * up to {@code params.maxRoutesPerToken()} adapters may be mixed on one token, in {@code params.form()}. An empty
     * list turns routing off. Only this call rebuilds the graph; {@link #setRoutes} never does. Needs the molora
     * patches ({@link #routingSupported()}). On failure the previous registration stays in effect.
     */
    public void setRouting(java.util.List<LoraAdapter> adapters, float[] scales, RoutingParams params) {
        if (!routingSupported()) {
            throw new LlamaException("this llama.cpp build lacks molora's per-token routing patch");
        }
        LoraAdapter.checkRoutable(model, adapters, scales);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ptrs = adapterPointers(arena, adapters);
            MemorySegment s = arena.allocateFrom(ValueLayout.JAVA_FLOAT, scales);
            int rc = llama_set_lora_routing(pointer(), ptrs, s, adapters.size(), params.toNative(arena));
            if (rc != 0) {
                throw LoraAdapter.routingError(rc, adapters.size());
            }
        }
        routedAdapters = adapters.size();
        routedK = params.maxRoutesPerToken();
    }

    /** Turns per-token routing off: the context decodes as stock llama.cpp again. */
    public void clearRouting() {
        if (routedAdapters != 0) {
            setRouting(java.util.List.of(), new float[0], RoutingParams.defaults());
        }
    }

    /**
     * Routes for the first {@code n} tokens of the next decode (ids checked against the registered set). They apply
     * to that one decode: a decode without routes set before it uses no adapter.
     */
    public void setRoutes(RouteTable routes, int n) {
        if (routedAdapters == 0) {
            throw new IllegalStateException("no adapters registered for routing (call setRouting first)");
        }
        if (routes.k() != routedK) {
            throw new IllegalArgumentException("route table has k=" + routes.k() + " but routing was set up with k=" + routedK);
        }
        if (n < 0 || n > routes.capacity()) {
            throw new IllegalArgumentException("route count " + n + " outside [0, " + routes.capacity() + "]");
        }
        int max = n == 0 ? RouteTable.NONE : routes.maxAdapter(n);
        if (max >= routedAdapters) {
            throw new IllegalArgumentException("route to adapter " + max + " but only " + routedAdapters + " are registered");
        }
        int rc = llama_set_lora_routes(pointer(), routes.idsSegment(), routes.weightsSegment(), n, routedK);
        if (rc != 0) {
            throw new LlamaException("llama.cpp rejected the routes (code " + rc + ")");
        }
    }

    /** Whether the loaded llama.cpp has molora's per-token routing patch. */
    public static boolean routingSupported() {
        Backend.init();
        return java.lang.foreign.SymbolLookup.loaderLookup().find("llama_supports_lora_routing").isPresent()
                && llama_supports_lora_routing();
    }

    private static MemorySegment adapterPointers(Arena arena, java.util.List<LoraAdapter> adapters) {
        MemorySegment ptrs = arena.allocate(ValueLayout.ADDRESS, Math.max(1, adapters.size()));
        for (int i = 0; i < adapters.size(); i++) {
            ptrs.setAtIndex(ValueLayout.ADDRESS, i, adapters.get(i).pointer());
        }
        return ptrs;
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
        handle.release();
    }

    /** llama.cpp's performance counters for a context. */
    public record PerfCounters(int promptTokens, int generatedTokens, int graphReuses, double promptMillis,
            double generationMillis) {}
}
