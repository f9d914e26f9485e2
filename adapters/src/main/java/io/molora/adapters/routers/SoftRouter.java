package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;

/**
 * A router from per-token scores: a {@link Scorer} (a learned gate, a semantic router, a heuristic) gives each token
 * scores over "none" and the adapters, and {@link SoftTopK} turns them into a top-k route with renormalised weights,
 * falling back to base under the confidence threshold; an optional {@link TokenScale} scales each token's weights.
 */
public final class SoftRouter implements Router {
    /** Scores of input i over none ({@code out[0]}) and each adapter ({@code out[1 + a]}); higher = more suitable. */
    @FunctionalInterface
    public interface Scorer {
        void score(TokenBatch batch, int i, float[] out);
    }

    /** A per-token multiplier of the chosen adapters' weights (task-adaptive scaling); 1 = as decided. */
    @FunctionalInterface
    public interface TokenScale {
        float scale(TokenBatch batch, int i);
    }

    private final Scorer scorer;
    private final TokenScale scale;
    private final SoftTopK decision;
    private final float[] scores;

    public SoftRouter(int adapters, Scorer scorer, SoftTopK decision) {
        this(adapters, scorer, decision, (b, i) -> 1f);
    }

    public SoftRouter(int adapters, Scorer scorer, SoftTopK decision, TokenScale scale) {
        if (adapters < 1) {
            throw new IllegalArgumentException("need at least one adapter, got " + adapters);
        }
        this.scorer = scorer;
        this.decision = decision;
        this.scale = scale;
        this.scores = new float[1 + adapters];
    }

    @Override
    public int maxAdaptersPerToken() {
        return decision.k();
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            java.util.Arrays.fill(scores, 0f);
            scorer.score(batch, i, scores);
            float s = scale.scale(batch, i);
            if (!Float.isFinite(s)) {
                throw new IllegalArgumentException("token scale must be finite, got " + s);
            }
            decision.decide(scores, s, routes, i);
        }
    }
}
