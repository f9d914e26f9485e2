package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.RequestRouter;
import io.molora.runtime.Context;
import io.molora.runtime.Router;
import java.util.List;

/**
 * A router built from a {@link RouterSpec} by {@link Routers#create}, with what it needs from the decode loop. Owns
 * what the router reads from (a router file's token embeddings, the context of its base passes) until closed.
 *
 * <p>A router may keep state per sequence (span state, hidden states): one decode loop uses it at a time.
 */
public final class Routing implements AutoCloseable {
    private final RouterSpec spec;
    private final Router router;
    private final AdapterSet adapters;
    private final HiddenStateFeed hidden;
    private final AutoCloseable resource;

    Routing(RouterSpec spec, Router router, AdapterSet adapters, HiddenStateFeed hidden, AutoCloseable resource) {
        this.spec = spec;
        this.router = router;
        this.adapters = adapters;
        this.hidden = hidden;
        this.resource = resource;
    }

    public RouterSpec spec() {
        return spec;
    }

    /** The router, or null for the base model alone ({@link RouterSpec.Base}). */
    public Router router() {
        return router;
    }

    /** Whether the decode loop must run with embeddings on and feed the router hidden states. */
    public boolean needsHiddenStates() {
        return router != null && router.needsHiddenStates();
    }

    /** What routes the tokens, in words ("base", "adapter code", "all adapters at once [code, math]", ...). */
    public String describe() {
        return switch (spec) {
            case RouterSpec.AllAdapters a -> spec.describe() + " " + adapters.names();
            default -> spec.describe();
        };
    }

    /** Where the router reads hidden states from; null unless {@link #needsHiddenStates()}. */
    HiddenStateFeed hiddenStates() {
        return hidden;
    }

    /**
     * Sequence {@code seq} starts with {@code tokens} from position 0, routed by this routing's router (alone, or
     * inside a router that mixes it with fixed adapters): what the router needs before the first decode. A token+hidden gate gets the prompt's states (a base pass: 2N work for
     * the prompt), a request router picks the sequence's adapter from them; other routers need nothing. Returns
     * whether a request router gave the sequence another adapter than it had.
     */
    boolean startSequence(int seq, int[] tokens) {
        if (router instanceof RequestRouter r) {
            int before = r.chosen(seq);
            return r.choose(seq, hidden.pass(tokens)) != before;
        }
        if (needsHiddenStates()) {
            hidden.prefill(seq, tokens);
        }
        return false;
    }

    /** Sequence {@code seq} starts with adapters fixed by its request: the router does not route it. */
    void skipSequence(int seq) {
        if (needsHiddenStates()) {
            hidden.set(seq, new float[0][]);  // the states of an earlier request in that sequence are dropped
        }
    }

    /**
     * For a route that is the same on every token (one adapter, all adapters), sets it on {@code context} the way
     * llama.cpp's own {@code --lora} does (no per-token routes) and returns true; false for every other router.
     */
    boolean applyStatically(Context context) {
        return switch (spec) {
            case RouterSpec.Fixed f -> {
                int a = adapters.index(f.adapter());
                context.setAdapters(List.of(adapters.adapters().get(a)), new float[] {adapters.scales()[a]});
                yield true;
            }
            case RouterSpec.AllAdapters a -> {
                context.setAdapters(adapters.adapters(), adapters.scales());
                yield true;
            }
            default -> false;
        };
    }

    @Override
    public void close() {
        try {
            if (hidden != null) {
                hidden.close();
            }
        } finally {
            closeResource();
        }
    }

    private void closeResource() {
        if (resource != null) {
            try {
                resource.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + resource + ": " + e.getMessage(), e);
            }
        }
    }
}
