package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.Map;

/** Each sequence to its own adapter: requests with different adapters share one batch. */
public record PerSequenceRouter(Map<Integer, Integer> adapterBySequence) implements Router {
    public PerSequenceRouter {
        adapterBySequence = Map.copyOf(adapterBySequence);
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            routes.set(i, adapterBySequence.getOrDefault(batch.sequence(i), RouteTable.NONE), 1f);
        }
    }
}
