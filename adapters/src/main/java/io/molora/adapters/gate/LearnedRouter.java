package io.molora.adapters.gate;

import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.Arrays;

/**
 * Routes each token by a trained {@link Gate} over its token-embedding features (the "N work" mode: no extra forward
 * pass, no hidden state), then {@link SoftTopK} (temperature, confidence threshold to base, top-k, scale).
 *
 * <p>With token-only features the gate's scores depend on the token id alone, so they are computed once per id and
 * cached: after warm-up, routing a token is an array lookup plus the top-k decision.
 */
public final class LearnedRouter implements Router {
    private final Gate gate;
    private final TokenEmbeddings embeddings;
    private final SoftTopK decision;
    private final float scale;
    private final float[] cache;     // [token * outputs + c]; NaN at [token * outputs] = not computed
    private final float[] features;
    private final float[] scores;

    public LearnedRouter(Gate gate, TokenEmbeddings embeddings, SoftTopK decision, float scale) {
        if (gate.inputs() != embeddings.dim()) {
            throw new IllegalArgumentException("gate takes " + gate.inputs() + " features but the model's token "
                    + "embeddings have " + embeddings.dim());
        }
        this.gate = gate;
        this.embeddings = embeddings;
        this.decision = decision;
        this.scale = scale;
        this.cache = new float[embeddings.vocabSize() * gate.outputs()];
        Arrays.fill(cache, Float.NaN);
        this.features = new float[gate.inputs()];
        this.scores = new float[gate.outputs()];
    }

    @Override
    public int maxAdaptersPerToken() {
        return decision.k();
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        int out = gate.outputs();
        for (int i = 0, n = batch.size(); i < n; i++) {
            int t = batch.token(i);
            int at = t * out;
            if (Float.isNaN(cache[at])) {
                embeddings.row(t, features, 0);
                gate.scores(features, 0, scores);
                System.arraycopy(scores, 0, cache, at, out);
            } else {
                System.arraycopy(cache, at, scores, 0, out);
            }
            decision.decide(scores, scale, routes, i);
        }
    }

    /** The gate's hard choice for a token: NONE or an adapter id (argmax of the scores). */
    public int argmax(int token) {
        embeddings.row(token, features, 0);
        gate.scores(features, 0, scores);
        int best = 0;
        for (int c = 1; c < scores.length; c++) {
            if (scores[c] > scores[best]) {
                best = c;
            }
        }
        return best == 0 ? RouteTable.NONE : best - 1;
    }
}
