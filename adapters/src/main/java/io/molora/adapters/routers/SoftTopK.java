package io.molora.adapters.routers;

import io.molora.runtime.RouteTable;

/**
 * Soft routing of one token from scores (gate logits) over "none" and K adapters: softmax at a temperature, a
 * confidence threshold under which the token falls back to the base model, top-k with renormalised weights, and an
 * optional per-token scale (SAMoRA-style task-adaptive scaling).
 *
 * <p>Scores are laid out as {@code scores[0]} = none (the base model), {@code scores[1 + a]} = adapter a. With
 * p = softmax(scores / temperature):
 * <ol>
 *   <li>if max p &lt; threshold, the token goes to the base model (every slot NONE);</li>
 *   <li>otherwise the k most probable choices are kept (ties: the lower index) and their probabilities renormalised
 *       to sum to 1 over those k;</li>
 *   <li>a kept adapter gets its renormalised weight times the token's scale; a kept "none" keeps its share for the
 *       base model — it takes no slot, so the adapters' weights sum to less than 1.</li>
 * </ol>
 * Slots are filled in order of decreasing weight; unused slots are NONE. Not thread-safe (scratch space is reused so a
 * decision allocates nothing).
 */
public final class SoftTopK {
    private final int k;
    private final float temperature;
    private final float threshold;
    private float[] p = new float[0];
    private int[] order = new int[0];

    /**
     * @param k           most adapters per token (1 = hard routing to the argmax)
     * @param temperature softmax temperature, &gt; 0 (lower: sharper)
     * @param threshold   confidence under which a token falls back to base, in [0, 1] (0: never)
     */
    public SoftTopK(int k, float temperature, float threshold) {
        if (k < 1) {
            throw new IllegalArgumentException("k must be >= 1, got " + k);
        }
        if (!(temperature > 0) || !Float.isFinite(temperature)) {
            throw new IllegalArgumentException("temperature must be a positive finite number, got " + temperature);
        }
        if (!(threshold >= 0 && threshold <= 1)) {
            throw new IllegalArgumentException("confidence threshold must be in [0, 1], got " + threshold);
        }
        this.k = k;
        this.temperature = temperature;
        this.threshold = threshold;
    }

    public int k() {
        return k;
    }

    public float temperature() {
        return temperature;
    }

    public float threshold() {
        return threshold;
    }

    /** Writes token {@code i}'s route from {@code scores} (length 1 + adapters) into {@code routes}, scaled by scale. */
    public void decide(float[] scores, float scale, RouteTable routes, int i) {
        int kept = select(scores);
        int slot = 0;
        for (int j = 0; j < kept && slot < routes.k(); j++) {
            int c = order[j];
            if (c != 0) {
                routes.set(i, slot++, c - 1, p[c] * scale);
            }
        }
        for (; slot < routes.k(); slot++) {
            routes.set(i, slot, RouteTable.NONE, 0f);
        }
    }

    /** The same decision as adapter ids and weights (slots with an adapter only), for tests and traces. */
    public Decision decide(float[] scores, float scale) {
        int kept = select(scores);
        int n = 0;
        for (int j = 0; j < kept; j++) {
            n += order[j] != 0 ? 1 : 0;
        }
        int[] ids = new int[n];
        float[] w = new float[n];
        int s = 0;
        for (int j = 0; j < kept; j++) {
            if (order[j] != 0) {
                ids[s] = order[j] - 1;
                w[s++] = p[order[j]] * scale;
            }
        }
        return new Decision(ids, w);
    }

    /** Adapters (by id) and their weights for one token; empty = the base model. */
    public record Decision(int[] adapters, float[] weights) {}

    /**
     * Fills {@code p} with the softmax and {@code order[0..kept)} with the kept choices, most probable first, their
     * p renormalised; returns kept (0 when the token falls back to base).
     */
    private int select(float[] scores) {
        int n = scores.length;
        if (n < 2) {
            throw new IllegalArgumentException("need scores for none and at least one adapter, got " + n);
        }
        if (p.length < n) {
            p = new float[n];
            order = new int[n];
        }
        float max = Float.NEGATIVE_INFINITY;
        for (int c = 0; c < n; c++) {
            if (Float.isNaN(scores[c])) {
                throw new IllegalArgumentException("router score " + c + " is NaN");
            }
            max = Math.max(max, scores[c]);
        }
        double sum = 0;
        for (int c = 0; c < n; c++) {
            float e = (float) Math.exp((scores[c] - max) / temperature);
            p[c] = e;
            sum += e;
        }
        // top-k by partial selection sort: k is small
        int kk = Math.min(k, n);
        for (int c = 0; c < n; c++) {
            order[c] = c;
        }
        for (int j = 0; j < kk; j++) {
            int best = j;
            for (int c = j + 1; c < n; c++) {
                if (p[order[c]] > p[order[best]]) {
                    best = c;
                }
            }
            int t = order[j];
            order[j] = order[best];
            order[best] = t;
        }
        if (p[order[0]] / sum < threshold) {
            return 0;
        }
        double keptSum = 0;
        for (int j = 0; j < kk; j++) {
            keptSum += p[order[j]];
        }
        for (int j = 0; j < kk; j++) {
            p[order[j]] = (float) (p[order[j]] / keptSum);
        }
        return kk;
    }
}
