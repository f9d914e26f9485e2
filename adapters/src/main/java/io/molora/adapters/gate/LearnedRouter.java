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
 *
 * <p>A <b>switch bonus</b> b ≥ 0 makes routes stick: the choice that won the previous position of the same sequence
 * gets b added to its score before the decision, so a token switches adapter only where the gate prefers another by
 * more than b (in the scores' units, nats of its softmax at temperature 1). 0 decides every token alone. The bonus
 * needs the previous decision of each sequence: it is kept per sequence, and forgotten at position 0 and at
 * {@link #reset}.
 */
public final class LearnedRouter implements Router {
    private final Gate gate;
    private final TokenEmbeddings embeddings;
    private final HiddenStates hidden;  // null: token features only
    private final SoftTopK decision;
    private final float scale;
    private final float[] cache;     // [token * outputs + c]; NaN at [token * outputs] = not computed
    private final float[] features;
    private final float[] scores;
    private final float switchBonus;
    /** Per sequence: the score index (0 = none, 1 + a) that won its last routed position, -1 when not known. */
    private int[] previous = new int[0];

    public LearnedRouter(Gate gate, TokenEmbeddings embeddings, SoftTopK decision, float scale) {
        this(gate, embeddings, null, decision, scale);
    }

    /**
     * With {@code hidden} non-null the features are the token embedding followed by the previous position's hidden
     * state (MoLoRA); where that state is not known the gate sees its training mean. No per-id cache then.
     */
    public LearnedRouter(Gate gate, TokenEmbeddings embeddings, HiddenStates hidden, SoftTopK decision, float scale) {
        this(gate, embeddings, hidden, decision, scale, 0f);
    }

    /** As {@link #LearnedRouter(Gate, TokenEmbeddings, HiddenStates, SoftTopK, float)}, with a switch bonus. */
    public LearnedRouter(Gate gate, TokenEmbeddings embeddings, HiddenStates hidden, SoftTopK decision, float scale,
            float switchBonus) {
        if (!(switchBonus >= 0) || !Float.isFinite(switchBonus)) {
            throw new IllegalArgumentException("switch bonus must be a finite number >= 0, got " + switchBonus);
        }
        this.switchBonus = switchBonus;
        int hiddenDim = hidden == null ? 0 : gate.inputs() - embeddings.dim();
        if (gate.inputs() != embeddings.dim() + hiddenDim || hiddenDim < 0 || (hidden != null && hiddenDim == 0)) {
            throw new IllegalArgumentException("gate takes " + gate.inputs() + " features but the model's token "
                    + "embeddings have " + embeddings.dim() + (hidden == null ? " (token features only)"
                    : " (with hidden-state features the gate needs more)"));
        }
        this.gate = gate;
        this.hidden = hidden;
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

    /** With hidden-state features: the states come from the {@link HiddenStates} given at construction. */
    @Override
    public boolean needsHiddenStates() {
        return hidden != null;
    }

    public float switchBonus() {
        return switchBonus;
    }

    @Override
    public void reset(int sequence) {
        if (sequence >= 0 && sequence < previous.length) {
            previous[sequence] = -1;
        }
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        int out = gate.outputs();
        for (int i = 0, n = batch.size(); i < n; i++) {
            int t = batch.token(i);
            if (hidden != null) {
                features(t, batch.sequence(i), batch.position(i));
                gate.scores(features, 0, scores);
            } else {
                int at = t * out;
                if (Float.isNaN(cache[at])) {
                    embeddings.row(t, features, 0);
                    gate.scores(features, 0, scores);
                    System.arraycopy(scores, 0, cache, at, out);
                } else {
                    System.arraycopy(cache, at, scores, 0, out);
                }
            }
            if (switchBonus > 0) {
                stick(batch.sequence(i), batch.position(i));
            }
            decision.decide(scores, scale, routes, i);
        }
    }

    /** The switch bonus: the previous position's winner gets it; then this position's winner is remembered. */
    private void stick(int seq, int pos) {
        if (seq >= previous.length) {
            int old = previous.length;
            previous = Arrays.copyOf(previous, Math.max(seq + 1, 2 * old));
            Arrays.fill(previous, old, previous.length, -1);
        }
        int prev = pos == 0 ? -1 : previous[seq];
        if (prev >= 0) {
            scores[prev] += switchBonus;
        }
        int best = 0;
        for (int c = 1; c < scores.length; c++) {
            if (scores[c] > scores[best]) {
                best = c;
            }
        }
        previous[seq] = best;
    }

    private void features(int token, int seq, int pos) {
        embeddings.row(token, features, 0);
        int d = embeddings.dim();
        float[] h = pos > 0 ? hidden.at(seq, pos - 1) : null;
        if (h != null) {
            System.arraycopy(h, 0, features, d, gate.inputs() - d);
        } else {
            System.arraycopy(gate.mean, d, features, d, gate.inputs() - d);
        }
    }

    /** The gate's hard choice for a token at a position (hidden features from the source): NONE or an adapter id. */
    public int argmax(int token, int seq, int pos) {
        if (hidden == null) {
            return argmax(token);
        }
        features(token, seq, pos);
        gate.scores(features, 0, scores);
        return argmaxOfScores();
    }

    /** The gate's hard choice for a token: NONE or an adapter id (argmax of the scores). */
    public int argmax(int token) {
        if (hidden != null) {
            throw new IllegalStateException("a hidden-state router decides by position: use argmax(token, seq, pos)");
        }
        embeddings.row(token, features, 0);
        gate.scores(features, 0, scores);
        return argmaxOfScores();
    }

    private int argmaxOfScores() {
        int best = 0;
        for (int c = 1; c < scores.length; c++) {
            if (scores[c] > scores[best]) {
                best = c;
            }
        }
        return best == 0 ? RouteTable.NONE : best - 1;
    }
}
