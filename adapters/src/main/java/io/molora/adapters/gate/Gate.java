package io.molora.adapters.gate;

import java.util.Random;

/**
 * A small gate: standardised features → (optional hidden layer, ReLU) → scores over "none" and K adapters
 * ({@code scores[0]} = none, {@code scores[1 + a]} = adapter a), trained with softmax cross-entropy by
 * {@link GateTrainer}. Plain float arrays; a forward pass allocates nothing.
 */
public final class Gate {
    final int inputs;
    final int hidden;   // 0: linear gate
    final int outputs;  // 1 + adapters
    final float[] mean;
    final float[] invStd;
    final float[] w1;  // [hidden][inputs] (or [outputs][inputs] when linear)
    final float[] b1;
    final float[] w2;  // [outputs][hidden]; empty when linear
    final float[] b2;
    private final float[] xs;
    private final float[] hs;

    Gate(int inputs, int hidden, int outputs, float[] mean, float[] invStd, float[] w1, float[] b1, float[] w2,
            float[] b2) {
        if (inputs < 1 || hidden < 0 || outputs < 2) {
            throw new IllegalArgumentException("gate needs inputs >= 1, hidden >= 0, outputs >= 2; got "
                    + inputs + ", " + hidden + ", " + outputs);
        }
        int first = hidden == 0 ? outputs : hidden;
        check(mean, inputs, "mean");
        check(invStd, inputs, "invStd");
        check(w1, first * inputs, "w1");
        check(b1, first, "b1");
        check(w2, hidden == 0 ? 0 : outputs * hidden, "w2");
        check(b2, hidden == 0 ? 0 : outputs, "b2");
        this.inputs = inputs;
        this.hidden = hidden;
        this.outputs = outputs;
        this.mean = mean;
        this.invStd = invStd;
        this.w1 = w1;
        this.b1 = b1;
        this.w2 = w2;
        this.b2 = b2;
        this.xs = new float[inputs];
        this.hs = new float[Math.max(1, hidden)];
    }

    private static void check(float[] a, int n, String what) {
        if (a.length != n) {
            throw new IllegalArgumentException("gate " + what + " has " + a.length + " values, expected " + n);
        }
    }

    /** A fresh gate with seeded small random weights and the given feature standardisation. */
    static Gate init(int inputs, int hidden, int outputs, float[] mean, float[] invStd, long seed) {
        Random rnd = new Random(seed);
        int first = hidden == 0 ? outputs : hidden;
        float[] w1 = new float[first * inputs];
        float s1 = (float) Math.sqrt(2.0 / inputs);
        for (int i = 0; i < w1.length; i++) {
            w1[i] = (float) rnd.nextGaussian() * s1 * (hidden == 0 ? 0.1f : 1f);
        }
        float[] w2 = new float[hidden == 0 ? 0 : outputs * hidden];
        float s2 = hidden == 0 ? 0 : (float) Math.sqrt(1.0 / hidden);
        for (int i = 0; i < w2.length; i++) {
            w2[i] = (float) rnd.nextGaussian() * s2;
        }
        return new Gate(inputs, hidden, outputs, mean.clone(), invStd.clone(), w1, new float[first], w2,
                new float[hidden == 0 ? 0 : outputs]);
    }

    /** An untrained gate with seeded random weights and no feature scaling (benchmarks: the cost, not the quality). */
    public static Gate untrained(int inputs, int hidden, int outputs, long seed) {
        float[] invStd = new float[inputs];
        java.util.Arrays.fill(invStd, 1f);
        return init(inputs, hidden, outputs, new float[inputs], invStd, seed);
    }

    public int inputs() {
        return inputs;
    }

    public int hidden() {
        return hidden;
    }

    /** 1 + the number of adapters. */
    public int outputs() {
        return outputs;
    }

    /** Scores for one feature vector ({@code inputs} floats from {@code x[offset]}) into {@code out[0..outputs)}. */
    public void scores(float[] x, int offset, float[] out) {
        for (int i = 0; i < inputs; i++) {
            xs[i] = (x[offset + i] - mean[i]) * invStd[i];
        }
        if (hidden == 0) {
            affine(w1, b1, xs, inputs, outputs, out);
            return;
        }
        affine(w1, b1, xs, inputs, hidden, hs);
        for (int j = 0; j < hidden; j++) {
            hs[j] = Math.max(0f, hs[j]);
        }
        affine(w2, b2, hs, hidden, outputs, out);
    }

    static void affine(float[] w, float[] b, float[] x, int in, int out, float[] y) {
        for (int o = 0; o < out; o++) {
            float s = b[o];
            int row = o * in;
            for (int i = 0; i < in; i++) {
                s += w[row + i] * x[i];
            }
            y[o] = s;
        }
    }
}
