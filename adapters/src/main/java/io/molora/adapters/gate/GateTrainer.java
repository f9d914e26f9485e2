package io.molora.adapters.gate;

import java.util.Random;
import java.util.function.IntConsumer;

/**
 * Trains a {@link Gate} in Java: softmax cross-entropy over none + adapters, Adam, minibatches in a seeded order —
 * the same data, options and seed give bit-identical weights.
 */
public final class GateTrainer {
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
     * none, 1 + a = adapter a). {@code progress} receives each finished epoch (1-based).
     */
    public static Gate train(float[] x, int[] y, int inputs, int outputs, Options o, IntConsumer progress) {
        int n = y.length;
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
                    softmax(scores, dScores);
                    dScores[y[e]] -= 1f;  // d(cross-entropy)/d(scores)
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
