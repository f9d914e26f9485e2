package io.molora.runtime;

/**
 * Decides which adapter(s) serve each token. The decode loop calls it before every decode — for prompt batches and
 * for each generated token — and hands the routes to llama.cpp. A router never calls native code itself and the
 * runtime never knows which router it has; adapter ids are indices into the registered adapter set.
 */
@FunctionalInterface
public interface Router {
    /** Writes the route of every token {@code 0..batch.size()-1} into {@code routes}. */
    void route(TokenBatch batch, RouteTable routes);

    /** The most adapters one token may mix (the k of top-k); fixed for the router's lifetime. */
    default int maxAdaptersPerToken() {
        return 1;
    }

    /**
     * Sequence {@code sequence} starts anew (a batch slot taking a request, a conversation reset): a router that keeps
     * state per sequence forgets it. Stateless routers ignore it.
     */
    default void reset(int sequence) {}

    /**
     * Whether the router reads the final hidden state of earlier positions: the decode loop must then run with
     * embeddings on (see {@code ContextParams.withEmbeddings}) and hand it those states. False for routers that look
     * at tokens only.
     */
    default boolean needsHiddenStates() {
        return false;
    }
}
