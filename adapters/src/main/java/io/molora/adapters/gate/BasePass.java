package io.molora.adapters.gate;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;

/**
 * Base passes over token sequences: each decoded alone from position 0, with no adapter and embeddings on, gives the
 * final hidden state at every position (the "2N work" a {@code token+hidden} gate needs for text given in advance).
 * One context serves every pass: made at the first, kept between passes, and replaced by a larger one only when a
 * longer sequence comes — a service that starts a request per prompt does not pay for a context per prompt.
 *
 * <p>One thread at a time; close it to free the context.
 */
public final class BasePass implements AutoCloseable {
    private final Model model;
    private final ContextParams params;
    private final int limit;
    private Context context;
    private Batch batch;
    private int capacity;
    private long passes;

    /** Passes over {@code model}; {@code params} gives the threads (its size, batch and embeddings are set here). */
    public BasePass(Model model, ContextParams params) {
        this(model, params, Integer.MAX_VALUE);
    }

    /**
     * As {@link #BasePass(Model, ContextParams)}, the context growing to at most {@code limit} positions (a longer
     * sequence gets a context of its own length): a server's prompts fit its context, so its base passes never need
     * more, and what the kept context holds stays bounded.
     */
    public BasePass(Model model, ContextParams params, int limit) {
        this.model = model;
        this.params = params;
        this.limit = limit;
    }

    /** Makes room for sequences of up to {@code tokens} tokens now (at least doubling the room when it grows). */
    public void reserve(int tokens) {
        if (tokens <= capacity) {
            return;
        }
        int size = Math.max(Math.max(64, tokens), Math.min(2 * capacity, limit));
        free();
        context = Context.create(model, params.withContextSize(size).withBatch(size, size).withMaxSequences(1)
                .withEmbeddings(true));
        batch = new Batch(size);
        capacity = size;
    }

    /** The hidden state after every position of {@code tokens} ({@code [p][n_embd]}), from a pass of its own. */
    public float[][] states(int[] tokens) {
        if (tokens.length == 0) {
            return new float[0][];
        }
        reserve(tokens.length);
        context.clearMemory();
        batch.clear();
        for (int i = 0; i < tokens.length; i++) {
            batch.add(tokens[i], i, 0, true);
        }
        float[][] h = new float[tokens.length][];
        context.decode(batch);
        passes++;
        for (int i = 0; i < tokens.length; i++) {
            h[i] = context.embedding(i);
        }
        return h;
    }

    /** Passes run so far. */
    public long passes() {
        return passes;
    }

    private void free() {
        try {
            if (batch != null) {
                batch.close();
            }
        } finally {
            batch = null;
            if (context != null) {
                context.close();
            }
            context = null;
            capacity = 0;
        }
    }

    @Override
    public void close() {
        free();
    }
}
