package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;

/** Every token to the same soft mix of k adapters, e.g. top-2 with weights 0.7/0.3. */
public record FixedMixRouter(int[] adapters, float[] weights) implements Router {
    public FixedMixRouter {
        if (adapters.length == 0 || adapters.length != weights.length) {
            throw new IllegalArgumentException("need as many weights as adapters, at least one");
        }
        adapters = adapters.clone();
        weights = weights.clone();
    }

    @Override
    public int maxAdaptersPerToken() {
        return adapters.length;
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            for (int j = 0; j < adapters.length; j++) {
                routes.set(i, j, adapters[j], weights[j]);
            }
        }
    }
}
