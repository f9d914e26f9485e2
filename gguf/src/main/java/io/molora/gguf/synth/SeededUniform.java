package io.molora.gguf.synth;

import java.nio.charset.StandardCharsets;

/**
 * Deterministic pseudo-random rows: the value of element (tensor, row, column) depends only
 * on (seed, tensor name, row, column), never on generation order, so the same seed gives the
 * same bytes and any row can be regenerated on its own. Values are uniform in [-a, a] with
 * a = std * sqrt(3), i.e. standard deviation {@code std}.
 */
final class SeededUniform {
    private static final long GOLDEN = 0x9E3779B97F4A7C15L;

    private SeededUniform() {}

    static long tensorSeed(long seed, String tensorName) {
        long h = seed;
        for (byte b : tensorName.getBytes(StandardCharsets.UTF_8)) {
            h = mix(h ^ (b & 0xff)) + GOLDEN;
        }
        return h;
    }

    /** Fills {@code row} with uniform values of standard deviation {@code std}. */
    static void fill(long tensorSeed, long rowIndex, float std, float[] row) {
        float a = (float) (std * Math.sqrt(3.0));
        long state = mix(tensorSeed + rowIndex * GOLDEN);
        for (int i = 0; i < row.length; i++) {
            state += GOLDEN;
            long bits = mix(state);
            // top 24 bits -> [0, 1) exactly representable as float, then to [-a, a)
            float u = (bits >>> 40) * 0x1.0p-24f;
            row[i] = (2f * u - 1f) * a;
        }
    }

    /** SplitMix64 finaliser. */
    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
