package io.molora.cli;

import io.molora.adapters.vocab.VocabRouter;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;

/**
 * Per sequence, either a token router (e.g. the vocabulary router of {@code --routes}) or a fixed adapter mix of a
 * {@link SlotRouter}: requests that name their adapters keep them, the others are routed token by token — in the
 * same batch.
 */
final class MixedRouter implements Router {
    private final Router tokens;
    private final SlotRouter fixed;
    private final boolean[] useFixed;
    private final int k;

    MixedRouter(Router tokens, SlotRouter fixed, int sequences) {
        this.tokens = tokens;
        this.fixed = fixed;
        this.useFixed = new boolean[sequences];
        this.k = Math.max(tokens.maxAdaptersPerToken(), fixed.maxAdaptersPerToken());
    }

    /** Sequence {@code s} starts anew (a batch slot taking a request): fixed mix or token routing. */
    void reset(int s, boolean fixedMix) {
        useFixed[s] = fixedMix;
        if (tokens instanceof VocabRouter v) {
            v.forget(s);
        }
    }

    void useFixed(int s, boolean on) {
        useFixed[s] = on;
    }

    boolean usesFixed(int s) {
        return useFixed[s];
    }

    @Override
    public int maxAdaptersPerToken() {
        return k;
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        tokens.route(batch, routes);
        for (int i = 0, n = batch.size(); i < n; i++) {
            if (useFixed[batch.sequence(i)]) {
                fixed.routeOne(batch.sequence(i), i, routes);
            }
        }
    }
}
