package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.Arrays;

/**
 * Routes every token of sequence {@code s} to that sequence's current adapter mix; the mix of a sequence may change
 * between decodes (a batch slot taking a new request, or a chat switching adapters) without touching the KV cache.
 */
public final class SlotRouter implements Router {
    private final int k;
    private final int[][] ids;
    private final float[][] weights;

    /** {@code sequences} sequences (0..sequences-1), each mixing at most {@code k} adapters; all start on the base. */
    public SlotRouter(int sequences, int k) {
        this.k = k;
        this.ids = new int[sequences][k];
        this.weights = new float[sequences][k];
        for (int s = 0; s < sequences; s++) {
            set(s, new int[0], new float[0]);
        }
    }

    /** Sequence {@code s} to these adapters with these weights (empty: the base model). */
    public void set(int s, int[] adapters, float[] w) {
        if (adapters.length > k) {
            throw new IllegalArgumentException("a mix of " + adapters.length + " adapters, but at most " + k + " per token");
        }
        Arrays.fill(ids[s], RouteTable.NONE);
        Arrays.fill(weights[s], 0f);
        System.arraycopy(adapters, 0, ids[s], 0, adapters.length);
        System.arraycopy(w, 0, weights[s], 0, adapters.length);
    }

    @Override
    public int maxAdaptersPerToken() {
        return k;
    }

    /** Writes sequence {@code s}'s mix as the route of batch token {@code i} (slots beyond k: none). */
    public void routeOne(int s, int i, RouteTable routes) {
        for (int j = 0; j < routes.k(); j++) {
            routes.set(i, j, j < k ? ids[s][j] : RouteTable.NONE, j < k ? weights[s][j] : 0f);
        }
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            int s = batch.sequence(i);
            for (int j = 0; j < k; j++) {
                routes.set(i, j, ids[s][j], weights[s][j]);
            }
        }
    }
}
