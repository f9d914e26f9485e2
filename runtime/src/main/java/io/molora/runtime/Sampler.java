package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.llama_sampler_chain_params;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** A llama.cpp sampler chain ({@code struct llama_sampler *}) built from {@link SamplerParams}. */
public final class Sampler implements AutoCloseable {
    private final NativeHandle handle;
    private final SamplerParams params;

    public Sampler(SamplerParams params) {
        Backend.init();
        this.params = params;
        MemorySegment chain;
        try (Arena arena = Arena.ofConfined()) {
            // struct llama_sampler_chain_params
            MemorySegment p = llama_sampler_chain_default_params(arena);
            llama_sampler_chain_params.no_perf(p, true);
            chain = llama_sampler_chain_init(p);
        }
        this.handle = new NativeHandle("sampler", chain, c -> llama_sampler_free(c));
        // The chain takes ownership of each sampler added to it.
        if (params.isGreedy()) {
            llama_sampler_chain_add(chain, llama_sampler_init_greedy());
        } else {
            // The order llama.cpp's common sampling uses.
            if (params.topK() > 0) {
                llama_sampler_chain_add(chain, llama_sampler_init_top_k(params.topK()));
            }
            llama_sampler_chain_add(chain, llama_sampler_init_top_p(params.topP(), 1));
            llama_sampler_chain_add(chain, llama_sampler_init_min_p(params.minP(), 1));
            llama_sampler_chain_add(chain, llama_sampler_init_temp(params.temperature()));
            int seed = params.seed() < 0 ? LLAMA_DEFAULT_SEED() : (int) params.seed();
            llama_sampler_chain_add(chain, llama_sampler_init_dist(seed));
        }
    }

    /**
     * Samples from output {@code i} of the context's last decode (-1 = the last output) and accepts the token.
     *
     * @throws NonFiniteOutputException when a logit is NaN or infinite: no token can be sampled from them (llama.cpp's
     *                                  samplers would pick an arbitrary one, and every log-probability is NaN)
     */
    public int sample(Context context, int i) {
        MemorySegment logits = context.logitsView(i);
        if (params.isGreedy()) {
            // llama.cpp's greedy sampler is an argmax (the first maximum wins) and keeps no state, but
            // llama_sampler_sample first copies all n_vocab logits into a candidate array: about 90 us per token at
            // a 32k vocabulary, a quarter of a batch-8 decode step on a GPU. The same argmax, read in place, checks
            // the logits on the way.
            handle.get();  // a closed sampler still refuses to sample
            return argmax(logits);
        }
        requireFinite(logits);
        return llama_sampler_sample(handle.get(), context.pointer(), i);
    }

    /** The first maximum; a NaN or infinite logit is refused. */
    private static int argmax(MemorySegment logits) {
        long n = logits.byteSize() / Float.BYTES;
        int best = 0;
        float max = Float.NEGATIVE_INFINITY;
        boolean finite = true;
        for (long t = 0; t < n; t++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, t);
            finite &= Float.isFinite(v);
            if (v > max) {
                max = v;
                best = (int) t;
            }
        }
        if (!finite) {
            throw notFinite();
        }
        return best;
    }

    private static void requireFinite(MemorySegment logits) {
        long n = logits.byteSize() / Float.BYTES;
        boolean finite = true;
        for (long t = 0; t < n; t++) {
            finite &= Float.isFinite(logits.getAtIndex(ValueLayout.JAVA_FLOAT, t));
        }
        if (!finite) {
            throw notFinite();
        }
    }

    private static NonFiniteOutputException notFinite() {
        return new NonFiniteOutputException("the model's output became NaN or infinite, so no token can be chosen: "
                + "the adapter weights are too large for this model (or the model is broken); generation stopped");
    }

    /** Forgets history (e.g. before a new, unrelated prompt). */
    public void reset() {
        llama_sampler_reset(handle.get());
    }

    public SamplerParams params() {
        return params;
    }

    @Override
    public void close() {
        handle.release();
    }
}
