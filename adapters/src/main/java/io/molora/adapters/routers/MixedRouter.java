package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;

/**
 * Per sequence, either a token router (a vocabulary router, a learned gate) or the fixed adapter mix of a
 * {@link SlotRouter}: requests that name their adapters keep them, the others are routed token by token — in the
 * same batch.
 */
public final class MixedRouter implements Router {
    private final Router tokens;
    private final SlotRouter fixed;
    private final boolean[] useFixed;
    private final int k;

    public MixedRouter(Router tokens, SlotRouter fixed, int sequences) {
        this.tokens = tokens;
        this.fixed = fixed;
        this.useFixed = new boolean[sequences];
        this.k = Math.max(tokens.maxAdaptersPerToken(), fixed.maxAdaptersPerToken());
    }

    /** Sequence {@code s} starts anew (a batch slot taking a request): its fixed mix, or routed token by token. */
    public void start(int s, boolean fixedMix) {
        useFixed[s] = fixedMix;
        tokens.reset(s);
    }

    @Override
    public void reset(int s) {
        tokens.reset(s);
    }

    /** Switches sequence {@code s} between its fixed mix and token routing, keeping what it has decoded. */
    public void useFixed(int s, boolean on) {
        useFixed[s] = on;
    }

    public boolean usesFixed(int s) {
        return useFixed[s];
    }

    @Override
    public boolean needsHiddenStates() {
        return tokens.needsHiddenStates();
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
