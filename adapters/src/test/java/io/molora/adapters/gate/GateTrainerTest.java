package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
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

    /** Each objective's gradient by the scores against central finite differences of its loss, in double. */
    @Test
    void objectiveGradientsMatchFiniteDifferences() {
        Random r = new Random(5);
        for (GateTrainer.Objective objective : GateTrainer.Objective.values()) {
            for (int trial = 0; trial < 50; trial++) {
                int k = 2 + r.nextInt(4);
                float[] s = new float[k];
                float[] losses = new float[k];
                for (int c = 0; c < k; c++) {
                    s[c] = (float) r.nextGaussian() * 2f;
                    losses[c] = (float) (r.nextDouble() * 8);  // negative log-likelihoods
                }
                int y = r.nextInt(k);
                float[] d = new float[k];
                GateTrainer.scoreGradient(objective, s, y, losses, 0, d);
                for (int j = 0; j < k; j++) {
                    double h = 1e-2;
                    float[] up = s.clone();
                    float[] down = s.clone();
                    up[j] += (float) h;
                    down[j] -= (float) h;
                    float[] scratch = new float[k];
                    double numeric = (GateTrainer.scoreGradient(objective, up, y, losses, 0, scratch)
                            - GateTrainer.scoreGradient(objective, down, y, losses, 0, scratch)) / (2 * h);
                    assertEquals(numeric, d[j], 2e-3 * Math.max(1, Math.abs(numeric)),
                            objective + " trial " + trial + " score " + j);
                }
            }
        }
    }

    /**
     * Learning from the losses alone: two choices that tie on most examples (the argmax target there is a coin toss)
     * and differ widely on a few. Trained on the losses, the expected-loss and mixture objectives put the gate's top-1
     * on the better choice where it matters: its expected loss comes within 0.05 of the best possible.
     */
    @Test
    void theLossObjectivesLearnWhereTheGapIs() {
        Random r = new Random(9);
        int n = 4000;
        int d = 4;
        float[] x = new float[n * d];
        int[] y = new int[n];
        float[] losses = new float[n * 2];
        for (int e = 0; e < n; e++) {
            for (int i = 0; i < d; i++) {
                x[e * d + i] = (float) r.nextGaussian();
            }
            boolean matters = x[e * d] > 1f;  // 16 % of examples: choice 1 is far better
            float base = 3f;
            losses[e * 2] = matters ? base + 4f : base;
            losses[e * 2 + 1] = matters ? base : base + (r.nextBoolean() ? -0.001f : 0.001f);
            y[e] = losses[e * 2 + 1] < losses[e * 2] ? 1 : 0;
        }
        GateTrainer.Options o = new GateTrainer.Options(8, 10, 32, 1e-2f, 0f, 3);
        double[] topOneLoss = new double[GateTrainer.Objective.values().length];
        for (GateTrainer.Objective objective : GateTrainer.Objective.values()) {
            Gate g = GateTrainer.train(x, y, losses, objective, d, 2, o, e -> { });
            float[] sc = new float[2];
            double sum = 0;
            for (int e = 0; e < n; e++) {
                g.scores(x, e * d, sc);
                sum += losses[e * 2 + (sc[1] > sc[0] ? 1 : 0)];
            }
            topOneLoss[objective.ordinal()] = sum / n;
        }
        double best = 3.0;  // choice 1 where it matters, either on the ties (within 0.001)
        assertTrue(topOneLoss[GateTrainer.Objective.EXPECTED_LOSS.ordinal()] < best + 0.05,
                java.util.Arrays.toString(topOneLoss));
        assertTrue(topOneLoss[GateTrainer.Objective.MIXTURE.ordinal()] < best + 0.05,
                java.util.Arrays.toString(topOneLoss));
    }

    @Test
    void theLossObjectivesNeedTheLosses() {
        Object[] train = data(1, 100);
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> GateTrainer.train(
                (float[]) train[0], (int[]) train[1], null, GateTrainer.Objective.MIXTURE, 8, 3,
                GateTrainer.Options.defaults(), e -> { }));
    }
}
