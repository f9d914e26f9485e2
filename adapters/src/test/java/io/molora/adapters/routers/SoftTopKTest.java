package io.molora.adapters.routers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.molora.runtime.RouteTable;
import io.molora.runtime.TokenBatch;
import org.junit.jupiter.api.Test;

/** Soft top-k decisions: softmax, temperature, confidence threshold, renormalisation, "none" in the top k, scale. */
class SoftTopKTest {
    private static final float EPS = 1e-5f;

    private static float[] softmax(float... x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        double[] e = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            e[i] = Math.exp(x[i] - max);
            sum += e[i];
        }
        float[] p = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            p[i] = (float) (e[i] / sum);
        }
        return p;
    }

    @Test
    void topOneIsTheArgmaxWithWeightOne() {
        SoftTopK.Decision d = new SoftTopK(1, 1f, 0f).decide(new float[] {0f, 1f, 3f, 2f}, 1f);
        assertArrayEquals(new int[] {1}, d.adapters());
        assertArrayEquals(new float[] {1f}, d.weights(), EPS);
    }

    @Test
    void topTwoRenormalisesOverTheKept() {
        float[] s = {-5f, 1f, 3f, 2f};
        SoftTopK.Decision d = new SoftTopK(2, 1f, 0f).decide(s, 1f);
        float[] p = softmax(s);
        assertArrayEquals(new int[] {1, 2}, d.adapters(), "most probable first");
        assertArrayEquals(new float[] {p[2] / (p[2] + p[3]), p[3] / (p[2] + p[3])}, d.weights(), EPS);
    }

    @Test
    void temperatureSharpensOrFlattens() {
        float[] s = {-9f, 1f, 2f};
        float cold = new SoftTopK(2, 0.1f, 0f).decide(s, 1f).weights()[0];
        float warm = new SoftTopK(2, 10f, 0f).decide(s, 1f).weights()[0];
        float[] pc = softmax(-90f, 10f, 20f);
        assertEquals(pc[2] / (pc[1] + pc[2]), cold, EPS);
        assertEquals(softmax(-0.9f, 0.1f, 0.2f)[2] / (softmax(-0.9f, 0.1f, 0.2f)[1] + softmax(-0.9f, 0.1f, 0.2f)[2]),
                warm, EPS);
        assertEquals(1f, cold, 1e-3f);
        assertEquals(0.5f, warm, 0.03f);
    }

    @Test
    void underTheThresholdFallsBackToBase() {
        float[] flat = {0f, 0.1f, 0f, 0.05f};  // max p ~ 0.26
        assertEquals(0, new SoftTopK(2, 1f, 0.5f).decide(flat, 1f).adapters().length);
        assertEquals(2, new SoftTopK(2, 1f, 0.2f).decide(flat, 1f).adapters().length);
        // the threshold looks at the softmax before top-k renormalisation
        float[] confident = {0f, 5f, 0f, 0f};
        assertArrayEquals(new int[] {0}, new SoftTopK(1, 1f, 0.9f).decide(confident, 1f).adapters());
    }

    @Test
    void noneInTheTopKKeepsItsShareForTheBase() {
        float[] s = {2f, 1f, -9f};
        SoftTopK.Decision d = new SoftTopK(2, 1f, 0f).decide(s, 1f);
        float[] p = softmax(s);
        assertArrayEquals(new int[] {0}, d.adapters());
        assertArrayEquals(new float[] {p[1] / (p[0] + p[1])}, d.weights(), EPS);
        assertEquals(0, new SoftTopK(1, 1f, 0f).decide(s, 1f).adapters().length, "top-1 is none: base");
    }

    @Test
    void scaleMultipliesTheWeightsAndTiesGoToTheLowerIndex() {
        SoftTopK.Decision d = new SoftTopK(2, 1f, 0f).decide(new float[] {-9f, 1f, 1f, 1f}, 0.5f);
        assertArrayEquals(new int[] {0, 1}, d.adapters());
        assertArrayEquals(new float[] {0.25f, 0.25f}, d.weights(), EPS);
    }

    @Test
    void rejectsBadParameters() {
        assertThrows(IllegalArgumentException.class, () -> new SoftTopK(0, 1f, 0f));
        assertThrows(IllegalArgumentException.class, () -> new SoftTopK(1, 0f, 0f));
        assertThrows(IllegalArgumentException.class, () -> new SoftTopK(1, Float.NaN, 0f));
        assertThrows(IllegalArgumentException.class, () -> new SoftTopK(1, 1f, 1.5f));
        assertThrows(IllegalArgumentException.class, () -> new SoftTopK(1, 1f, 0f).decide(new float[] {1f}, 1f));
        assertThrows(IllegalArgumentException.class,
                () -> new SoftTopK(1, 1f, 0f).decide(new float[] {1f, Float.NaN}, 1f));
    }

    record Tokens(int... tokens) implements TokenBatch {
        @Override
        public int size() {
            return tokens.length;
        }

        @Override
        public int token(int i) {
            return tokens[i];
        }

        @Override
        public int position(int i) {
            return i;
        }

        @Override
        public int sequence(int i) {
            return 0;
        }
    }

    @Test
    void softRouterWritesSlotsAndPerTokenScale() {
        // token t prefers adapter t % 3, with "none" for t >= 100; scale 2 for even positions
        SoftRouter r = new SoftRouter(3, (b, i, out) -> {
            int t = b.token(i);
            out[t >= 100 ? 0 : 1 + t % 3] = 4f;
            out[t >= 100 ? 1 : 1 + (t + 1) % 3] = 3f;
        }, new SoftTopK(2, 1f, 0f), (b, i) -> i % 2 == 0 ? 2f : 1f);
        assertEquals(2, r.maxAdaptersPerToken());
        try (RouteTable routes = new RouteTable(3, 2)) {
            r.route(new Tokens(4, 2, 100), routes);
            float big = 1f / (1f + (float) Math.exp(-1));  // renormalised share of the 4 vs the 3
            assertEquals(1, routes.adapter(0, 0));
            assertEquals(2 * big, routes.weight(0, 0), EPS);
            assertEquals(2, routes.adapter(0, 1));
            assertEquals(2 * (1 - big), routes.weight(0, 1), EPS);
            assertEquals(2, routes.adapter(1, 0));
            assertEquals(big, routes.weight(1, 0), EPS);
            // none first: its share stays with the base, adapter 0 gets the rest, slot 1 unused
            assertEquals(0, routes.adapter(2, 0));
            assertEquals(2 * (1 - big), routes.weight(2, 0), EPS);
            assertEquals(RouteTable.NONE, routes.adapter(2, 1));
        }
    }
}
