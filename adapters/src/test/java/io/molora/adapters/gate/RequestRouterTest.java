package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.molora.runtime.RouteTable;
import io.molora.runtime.TokenBatch;
import org.junit.jupiter.api.Test;

/** The request router's arithmetic: the mean over the prompt, the gate's argmax, one route for all of a sequence. */
class RequestRouterTest {
    /** Scores: none = 0, adapter 0 = x0, adapter 1 = x1 (after standardising with mean 1, std 1/2). */
    static Gate gate() {
        return new Gate(2, 0, 3, new float[] {1, 1}, new float[] {2, 2}, new float[] {0, 0, 1, 0, 0, 1},
                new float[] {0, 0, 0}, new float[0], new float[0]);
    }

    @Test
    void theFeaturesAreTheMeanOverThePrompt() {
        assertArrayEquals(new float[] {2, 3}, RequestRouter.features(new float[][] {{1, 2}, {3, 4}}));
        assertThrows(IllegalArgumentException.class, () -> RequestRouter.features(new float[0][]));
    }

    @Test
    void theHighestScoreDecidesAndTheBaseModelIsAChoice() {
        RequestRouter r = new RequestRouter(gate(), 2);
        assertEquals(1, r.decide(new float[][] {{1, 2}, {3, 4}}));     // standardised (2, 4): adapter 1
        assertEquals(0, r.decide(new float[][] {{5, 1}}));             // (8, 0): adapter 0
        assertEquals(RouteTable.NONE, r.decide(new float[][] {{0, 0}}));  // (-2, -2): the base model
        assertThrows(IllegalArgumentException.class, () -> r.decide(new float[][] {{1, 2, 3}}));
    }

    @Test
    void aGateForAnotherWidthIsRefusedWhenTheRouterIsMade() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new RequestRouter(gate(), 3));
        assertEquals("the request router reads 2 features but the model's hidden states have 3", e.getMessage());
    }

    @Test
    void everyTokenOfASequenceGetsItsChoice() {
        RequestRouter r = new RequestRouter(gate(), 2);
        assertEquals(1, r.choose(0, new float[][] {{1, 3}}));
        assertEquals(0, r.choose(2, new float[][] {{3, 1}}));
        int[] seqs = {0, 2, 0, 1, 2};
        TokenBatch batch = new TokenBatch() {
            public int size() {
                return seqs.length;
            }

            public int token(int i) {
                return 7;
            }

            public int position(int i) {
                return i;
            }

            public int sequence(int i) {
                return seqs[i];
            }
        };
        try (RouteTable routes = new RouteTable(8, 1)) {
            r.route(batch, routes);
            int[] want = {1, 0, 1, RouteTable.NONE, 0};  // sequence 1 was never given a prompt: the base model
            for (int i = 0; i < seqs.length; i++) {
                assertEquals(want[i], routes.adapter(i, 0), "token " + i);
                assertEquals(want[i] == RouteTable.NONE ? 0f : 1f, routes.weight(i, 0));
            }
        }
        assertEquals(RouteTable.NONE, r.chosen(5));
    }
}
