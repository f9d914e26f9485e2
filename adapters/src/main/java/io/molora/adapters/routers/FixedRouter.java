package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;

/** Every token to the same adapter (or to none): today's llama.cpp behaviour with one {@code --lora}. */
public record FixedRouter(int adapter, float weight) implements Router {
    public static FixedRouter none() {
        return new FixedRouter(RouteTable.NONE, 0f);
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            routes.set(i, adapter, weight);
        }
    }
}
