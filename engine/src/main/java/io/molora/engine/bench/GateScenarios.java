package io.molora.engine.bench;

import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.LearnedRouter;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.adapters.routers.SoftTopK;
import io.molora.adapters.routers.TokenListRouter;
import io.molora.runtime.Model;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.io.IOException;
import java.util.Arrays;

/**
 * Bench scenarios for the learned gate's cost: generation with a gate (1 hidden layer of 32 over the token
 * embedding, fresh score cache per run) deciding every token, against the same routes given in advance.
 */
final class GateScenarios implements AutoCloseable {
    private final TokenEmbeddings embeddings;
    private final Gate gate;
    private int[] recorded = new int[0];

    GateScenarios(Model model, int adapters) throws IOException {
        this.embeddings = TokenEmbeddings.open(model.path());
        this.gate = Gate.untrained(embeddings.dim(), 32, 1 + adapters, 1);
    }

    /** A fresh learned router (cold cache) that records the routes it gives sequence 0, by position. */
    Router learned() {
        LearnedRouter r = new LearnedRouter(gate, embeddings, new SoftTopK(1, 1f, 0f), 1f);
        return (TokenBatch batch, RouteTable routes) -> {
            r.route(batch, routes);
            for (int i = 0, n = batch.size(); i < n; i++) {
                int pos = batch.position(i);
                if (pos >= recorded.length) {
                    int old = recorded.length;
                    recorded = Arrays.copyOf(recorded, Math.max(pos + 1, 2 * old));
                    Arrays.fill(recorded, old, recorded.length, RouteTable.NONE);
                }
                recorded[pos] = routes.adapter(i, 0);
            }
        };
    }

    /** The routes the last learned run gave, as a list given in advance. */
    Router replay() {
        return TokenListRouter.of(recorded);
    }

    @Override
    public void close() {
        embeddings.close();
    }
}
