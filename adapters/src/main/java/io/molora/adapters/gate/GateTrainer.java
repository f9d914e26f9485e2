package io.molora.adapters.gate;

import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Trains a {@link Gate} in Java: Adam over minibatches in a seeded order — the same data, options and seed give
 * bit-identical weights — under one of three {@link Objective}s over g = softmax(scores) on none + adapters.
 */
public final class GateTrainer {
    /**
     * What the gate learns. With a target per example (labelled corpora, or the argmax of the per-token oracle) only
     * {@link #ORACLE} applies; with each choice's negative log-likelihood of the next token L_c (the unlabelled
     * corpus's passes) the gate can learn the loss itself:
     */
    public enum Objective {
        /** Cross-entropy against the target: −log g_y. Ties between choices still pick one target. */
        ORACLE,
        /**
         * The expected loss of the choice the gate draws: Σ_c g_c L_c. A near-tie costs nearly nothing either way and
         * a wide gap costs its width, so the gate spends itself where routing matters; its top-1 is what runs.
         */
        EXPECTED_LOSS,
        /** The likelihood of the gate's mixture of the choices' predictions: −log Σ_c g_c exp(−L_c). */
        MIXTURE
    }

    /** Training options. {@code hidden = 0}: a linear gate. */
    public record Options(int hidden, int epochs, int batchSize, float learningRate, float weightDecay, long seed) {
        public Options {
            if (hidden < 0 || epochs < 1 || batchSize < 1 || !(learningRate > 0) || weightDecay < 0) {
                throw new IllegalArgumentException("bad gate training options: " + this);
            }
        }

        public static Options defaults() {
            return new Options(32, 20, 64, 1e-2f, 1e-4f, 42L);
        }
    }

    private GateTrainer() {}

    /**
     * Trains on {@code n} examples: features {@code x[e * inputs ...]}, targets {@code y[e]} in [0, outputs) (0 =
     * none, 1 + a = adapter a), cross-entropy ({@link Objective#ORACLE}). {@code progress} receives each finished
     * epoch (1-based).
     */
    public static Gate train(float[] x, int[] y, int inputs, int outputs, Options o, IntConsumer progress) {
        return train(x, y, null, Objective.ORACLE, inputs, outputs, o, progress);
    }

    /**
     * As {@link #train(float[], int[], int, int, Options, IntConsumer)} under {@code objective}; {@code losses} holds
     * each example's L_c ({@code losses[e * outputs + c]}, the negative log-likelihood of its next token under choice
     * c) and is required by every objective but {@link Objective#ORACLE}.
     */
    public static Gate train(float[] x, int[] y, float[] losses, Objective objective, int inputs, int outputs,
            Options o, IntConsumer progress) {
        int n = y.length;
        if (objective != Objective.ORACLE && (losses == null || losses.length != (long) n * outputs)) {
            throw new IllegalArgumentException(objective + " needs each example's loss under each of the " + outputs
                    + " choices");
        }
        if (n == 0 || x.length != (long) n * inputs) {
            throw new IllegalArgumentException(n + " targets but " + x.length + " feature values for " + inputs
                    + " inputs each");
        }
        for (int t : y) {
            if (t < 0 || t >= outputs) {
                throw new IllegalArgumentException("target " + t + " outside [0, " + outputs + ")");
            }
        }
        // feature standardisation from the training data
        float[] mean = new float[inputs];
        float[] invStd = new float[inputs];
        for (int e = 0; e < n; e++) {
            for (int i = 0; i < inputs; i++) {
                mean[i] += x[e * inputs + i];
            }
        }
        for (int i = 0; i < inputs; i++) {
            mean[i] /= n;
        }
        for (int e = 0; e < n; e++) {
            for (int i = 0; i < inputs; i++) {
                float d = x[e * inputs + i] - mean[i];
                invStd[i] += d * d;
            }
        }
        for (int i = 0; i < inputs; i++) {
            invStd[i] = (float) (1.0 / Math.sqrt(invStd[i] / n + 1e-6));
        }
        Gate g = Gate.init(inputs, o.hidden(), outputs, mean, invStd, o.seed());
        int h = o.hidden();
        float[][] params = h == 0 ? new float[][] {g.w1, g.b1} : new float[][] {g.w1, g.b1, g.w2, g.b2};
        float[][] grads = new float[params.length][];
        float[][] m = new float[params.length][];
        float[][] v = new float[params.length][];
        for (int p = 0; p < params.length; p++) {
            grads[p] = new float[params[p].length];
            m[p] = new float[params[p].length];
            v[p] = new float[params[p].length];
        }
        int[] order = new int[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Random rnd = new Random(o.seed() ^ 0x5DEECE66DL);
        float[] xs = new float[inputs];
        float[] hs = new float[Math.max(1, h)];
        float[] scores = new float[outputs];
        float[] dScores = new float[outputs];
        float[] dh = new float[Math.max(1, h)];
        long step = 0;
        final float beta1 = 0.9f;
        final float beta2 = 0.999f;
        for (int epoch = 1; epoch <= o.epochs(); epoch++) {
            for (int i = n - 1; i > 0; i--) {
                int j = rnd.nextInt(i + 1);
                int t = order[i];
                order[i] = order[j];
                order[j] = t;
            }
            for (int start = 0; start < n; start += o.batchSize()) {
                int end = Math.min(n, start + o.batchSize());
                for (float[] gr : grads) {
                    java.util.Arrays.fill(gr, 0f);
                }
                for (int b = start; b < end; b++) {
                    int e = order[b];
                    for (int i = 0; i < inputs; i++) {
                        xs[i] = (x[e * inputs + i] - mean[i]) * invStd[i];
                    }
                    if (h == 0) {
                        Gate.affine(g.w1, g.b1, xs, inputs, outputs, scores);
                    } else {
                        Gate.affine(g.w1, g.b1, xs, inputs, h, hs);
                        for (int j = 0; j < h; j++) {
                            hs[j] = Math.max(0f, hs[j]);
                        }
                        Gate.affine(g.w2, g.b2, hs, h, outputs, scores);
                    }
                    scoreGradient(objective, scores, y[e], losses, e * outputs, dScores);
                    if (h == 0) {
                        accumulate(grads[0], grads[1], dScores, xs, inputs, outputs);
                    } else {
                        accumulate(grads[2], grads[3], dScores, hs, h, outputs);
                        for (int j = 0; j < h; j++) {
                            float s = 0;
                            for (int c = 0; c < outputs; c++) {
                                s += g.w2[c * h + j] * dScores[c];
                            }
                            dh[j] = hs[j] > 0 ? s : 0f;
                        }
                        accumulate(grads[0], grads[1], dh, xs, inputs, h);
                    }
                }
                step++;
                float scale = 1f / (end - start);
                float c1 = (float) (1 - Math.pow(beta1, step));
                float c2 = (float) (1 - Math.pow(beta2, step));
                for (int p = 0; p < params.length; p++) {
                    float[] w = params[p];
                    for (int i = 0; i < w.length; i++) {
                        float gr = grads[p][i] * scale + o.weightDecay() * w[i];
                        m[p][i] = beta1 * m[p][i] + (1 - beta1) * gr;
                        v[p][i] = beta2 * v[p][i] + (1 - beta2) * gr * gr;
                        w[i] -= o.learningRate() * (m[p][i] / c1) / ((float) Math.sqrt(v[p][i] / c2) + 1e-8f);
                    }
                }
            }
            progress.accept(epoch);
        }
        return g;
    }

    /**
     * One example's loss under {@code objective} and its gradient by the scores into {@code d}, with g = softmax(s):
     * ORACLE −log g_y: d = g − onehot(y); EXPECTED_LOSS Σ g_c L_c: d_j = g_j (L_j − Σ g_c L_c); MIXTURE
     * −log Σ g_c e^(−L_c): d = g − r, r_c = g_c e^(−L_c) / Σ g e^(−L) (the choices' posterior), in log space.
     */
    static double scoreGradient(Objective objective, float[] s, int y, float[] losses, int at, float[] d) {
        int k = s.length;
        softmax(s, d);  // d holds g
        switch (objective) {
            case ORACLE -> {
                double loss = -Math.log(Math.max(d[y], 1e-30f));
                d[y] -= 1f;
                return loss;
            }
            case EXPECTED_LOSS -> {
                double expected = 0;
                for (int c = 0; c < k; c++) {
                    expected += d[c] * losses[at + c];
                }
                for (int c = 0; c < k; c++) {
                    d[c] = (float) (d[c] * (losses[at + c] - expected));
                }
                return expected;
            }
            case MIXTURE -> {
                // log g_c − L_c, then log-sum-exp
                double max = Double.NEGATIVE_INFINITY;
                double[] a = new double[k];
                for (int c = 0; c < k; c++) {
                    a[c] = Math.log(Math.max(d[c], 1e-30f)) - losses[at + c];
                    max = Math.max(max, a[c]);
                }
                double sum = 0;
                for (int c = 0; c < k; c++) {
                    sum += Math.exp(a[c] - max);
                }
                double lse = max + Math.log(sum);
                for (int c = 0; c < k; c++) {
                    d[c] = (float) (d[c] - Math.exp(a[c] - lse));
                }
                return -lse;
            }
            default -> throw new IllegalStateException();
        }
    }

    /** The mean loss of {@code g} over the examples under {@code objective} (the quantity the training lowers). */
    public static double meanLoss(Gate g, float[] x, int[] y, float[] losses, Objective objective) {
        int k = g.outputs();
        float[] s = new float[k];
        float[] d = new float[k];
        double sum = 0;
        for (int e = 0; e < y.length; e++) {
            g.scores(x, e * g.inputs(), s);
            sum += scoreGradient(objective, s, y[e], losses, e * k, d);
        }
        return sum / y.length;
    }

    private static void accumulate(float[] gw, float[] gb, float[] dOut, float[] in, int inputs, int outputs) {
        for (int o = 0; o < outputs; o++) {
            float d = dOut[o];
            gb[o] += d;
            if (d != 0f) {
                int row = o * inputs;
                for (int i = 0; i < inputs; i++) {
                    gw[row + i] += d * in[i];
                }
            }
        }
    }

    static void softmax(float[] s, float[] p) {
        float max = Float.NEGATIVE_INFINITY;
        for (float v : s) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (int i = 0; i < s.length; i++) {
            p[i] = (float) Math.exp(s[i] - max);
            sum += p[i];
        }
        for (int i = 0; i < s.length; i++) {
            p[i] /= (float) sum;
        }
    }

    /** Fraction of examples whose argmax score is the target. */
    public static double accuracy(Gate g, float[] x, int[] y) {
        float[] s = new float[g.outputs()];
        int right = 0;
        for (int e = 0; e < y.length; e++) {
            g.scores(x, e * g.inputs(), s);
            int best = 0;
            for (int c = 1; c < s.length; c++) {
                if (s[c] > s[best]) {
                    best = c;
                }
            }
            right += best == y[e] ? 1 : 0;
        }
        return (double) right / y.length;
    }
}
