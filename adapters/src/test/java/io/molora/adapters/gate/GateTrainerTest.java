package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Random;
import org.junit.jupiter.api.Test;

/** The gate and its Java trainer on synthetic data with a known rule. */
class GateTrainerTest {
    /** 3 classes by which of two coordinates is large (a non-linear rule for the MLP: class 0 when neither is). */
    static Object[] data(long seed, int n) {
        Random r = new Random(seed);
        int d = 8;
        float[] x = new float[n * d];
        int[] y = new int[n];
        for (int e = 0; e < n; e++) {
            for (int i = 0; i < d; i++) {
                x[e * d + i] = (float) r.nextGaussian() * 3f + 10f;  // offset and scale: standardisation matters
            }
            float a = x[e * d] - 10f;
            float b = x[e * d + 1] - 10f;
            y[e] = a > 1.5f && a > b ? 1 : b > 1.5f ? 2 : 0;
        }
        return new Object[] {x, y};
    }

    @Test
    void mlpLearnsTheRuleAndGeneralises() {
        Object[] train = data(1, 3000);
        Object[] test = data(2, 1000);
        GateTrainer.Options o = new GateTrainer.Options(16, 30, 32, 1e-2f, 0f, 7);
        Gate g = GateTrainer.train((float[]) train[0], (int[]) train[1], 8, 3, o, e -> { });
        double acc = GateTrainer.accuracy(g, (float[]) test[0], (int[]) test[1]);
        assertTrue(acc > 0.95, "held-out accuracy " + acc);
    }

    @Test
    void linearGateLearnsALinearRule() {
        Random r = new Random(3);
        int n = 2000;
        float[] x = new float[n * 4];
        int[] y = new int[n];
        for (int e = 0; e < n; e++) {
            for (int i = 0; i < 4; i++) {
                x[e * 4 + i] = (float) r.nextGaussian();
            }
            y[e] = x[e * 4 + 2] > 0 ? 1 : 0;
        }
        Gate g = GateTrainer.train(x, y, 4, 2, new GateTrainer.Options(0, 20, 32, 1e-2f, 0f, 1), e -> { });
        assertTrue(GateTrainer.accuracy(g, x, y) > 0.97);
    }

    @Test
    void sameSeedSameWeightsAndProgressPerEpoch() {
        Object[] train = data(1, 500);
        GateTrainer.Options o = new GateTrainer.Options(8, 3, 16, 1e-2f, 1e-4f, 11);
        int[] epochs = new int[1];
        Gate a = GateTrainer.train((float[]) train[0], (int[]) train[1], 8, 3, o, e -> epochs[0] = e);
        Gate b = GateTrainer.train((float[]) train[0], (int[]) train[1], 8, 3, o, e -> { });
        assertArrayEquals(a.w1, b.w1);
        assertArrayEquals(a.w2, b.w2);
        assertTrue(epochs[0] == 3);
        Gate c = GateTrainer.train((float[]) train[0], (int[]) train[1], 8, 3,
                new GateTrainer.Options(8, 3, 16, 1e-2f, 1e-4f, 12), e -> { });
        assertTrue(!java.util.Arrays.equals(a.w1, c.w1), "another seed, other weights");
    }
}
