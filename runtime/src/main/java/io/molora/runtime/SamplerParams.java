package io.molora.runtime;

/**
 * Sampling settings with llama.cpp's defaults and meanings ({@code --temp --top-k --top-p --min-p --seed}).
 * A temperature of 0 (or below) means greedy: always the most likely token.
 *
 * @param seed -1 = a random seed each time
 */
public record SamplerParams(float temperature, int topK, float topP, float minP, long seed) {
    public SamplerParams {
        if (Float.isNaN(temperature)) {
            throw new IllegalArgumentException("temperature must be a number");
        }
        if (topK < 0) {
            throw new IllegalArgumentException("top-k must be >= 0 (0 = off), got " + topK);
        }
        if (!(topP > 0f && topP <= 1f)) {
            throw new IllegalArgumentException("top-p must be in (0, 1], got " + topP);
        }
        if (!(minP >= 0f && minP < 1f)) {
            throw new IllegalArgumentException("min-p must be in [0, 1), got " + minP);
        }
        if (seed < -1 || seed > 0xFFFF_FFFEL) {
            throw new IllegalArgumentException("seed must be -1 (random) or in [0, 4294967294], got " + seed);
        }
    }

    /** llama.cpp's defaults: temp 0.8, top-k 40, top-p 0.95, min-p 0.05, random seed. */
    public static SamplerParams defaults() {
        return new SamplerParams(0.8f, 40, 0.95f, 0.05f, -1);
    }

    public static SamplerParams greedy() {
        return new SamplerParams(0f, 40, 0.95f, 0.05f, -1);
    }

    public boolean isGreedy() {
        return temperature <= 0f;
    }
}
