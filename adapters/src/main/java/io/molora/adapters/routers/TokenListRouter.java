package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.Map;

/**
 * Explicit per-token routes, given in advance: {@code routes.get(seq)[pos]} is the adapter of the token at that
 * position of that sequence (NONE past the end). For tests, benchmarks and tools that computed routes elsewhere.
 */
public record TokenListRouter(Map<Integer, int[]> routesBySequence) implements Router {
    public TokenListRouter {
        routesBySequence = Map.copyOf(routesBySequence);
    }

    /** One sequence (0). */
    public static TokenListRouter of(int[] routes) {
        return new TokenListRouter(Map.of(0, routes.clone()));
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            int[] seq = routesBySequence.get(batch.sequence(i));
            int pos = batch.position(i);
            int adapter = seq != null && pos < seq.length ? seq[pos] : RouteTable.NONE;
            routes.set(i, adapter, 1f);
        }
    }
}
