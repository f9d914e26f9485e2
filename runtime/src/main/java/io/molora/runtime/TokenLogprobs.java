package io.molora.runtime;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * The model's log-probabilities where a token was generated: of the token chosen and of the {@code top.length} most
 * likely tokens, most likely first (ties: lower id first). They are the log-softmax of the raw logits, the model's own
 * distribution, before temperature, top-k or top-p shape it for sampling: what OpenAI's {@code logprobs} report, and
 * what shows how close a greedy choice was (the margin between the two most likely tokens).
 *
 * @param chosen the log-probability of the token chosen
 * @param topIds the ids of the most likely tokens
 * @param top    their log-probabilities, in the same order
 */
public record TokenLogprobs(float chosen, int[] topIds, float[] top) {
    /** The most alternatives one may ask for (OpenAI's limit for {@code top_logprobs}). */
    public static final int MAX_TOP = 20;

    public TokenLogprobs {
        if (topIds.length != top.length) {
            throw new IllegalArgumentException("topIds and top differ in length");
        }
        topIds = topIds.clone();
        top = top.clone();
    }

    @Override
    public int[] topIds() {
        return topIds.clone();
    }

    @Override
    public float[] top() {
        return top.clone();
    }

    /** How many alternatives there are. */
    public int size() {
        return top.length;
    }

    /**
     * Log-softmax of {@code logits} (n_vocab floats) at {@code chosen}, with the {@code n} most likely tokens.
     *
     * @throws IllegalArgumentException when {@code n} is outside 0..{@link #MAX_TOP} or {@code chosen} is not a token
     */
    public static TokenLogprobs of(MemorySegment logits, int chosen, int n) {
        int vocab = (int) (logits.byteSize() / Float.BYTES);
        if (n < 0 || n > MAX_TOP) {
            throw new IllegalArgumentException("top log-probabilities: 0 to " + MAX_TOP + ", got " + n);
        }
        if (chosen < 0 || chosen >= vocab) {
            throw new IllegalArgumentException("token " + chosen + " is outside the vocabulary of " + vocab);
        }
        float max = max(logits);
        double logSum = logSumExp(logits, max);
        // the n largest, by a running insertion into a sorted window (n is small)
        int k = Math.min(n, vocab);
        int[] ids = new int[k];
        int filled = 0;
        for (int i = 0; i < vocab; i++) {
            float v = at(logits, i);
            if (filled == k && (k == 0 || v <= at(logits, ids[k - 1]))) {
                continue;  // not above the smallest kept (equal: the lower id, kept first, wins)
            }
            int slot = filled < k ? filled++ : k - 1;
            while (slot > 0 && at(logits, ids[slot - 1]) < v) {
                ids[slot] = ids[slot - 1];
                slot--;
            }
            ids[slot] = i;
        }
        float[] lp = new float[k];
        for (int i = 0; i < k; i++) {
            lp[i] = (float) (at(logits, ids[i]) - max - logSum);
        }
        return new TokenLogprobs((float) (at(logits, chosen) - max - logSum), ids, lp);
    }

    /**
     * log softmax(logits)[target] in double precision, as llama-perplexity computes it (the largest logit subtracted
     * in float, the exponentials summed in double): perplexity, router training and {@link #of} all use it.
     */
    public static double logSoftmaxAt(MemorySegment logits, int target) {
        float max = max(logits);
        return at(logits, target) - max - logSumExp(logits, max);
    }

    private static float max(MemorySegment logits) {
        float max = Float.NEGATIVE_INFINITY;
        for (long v = 0, n = logits.byteSize() / Float.BYTES; v < n; v++) {
            max = Math.max(max, logits.getAtIndex(ValueLayout.JAVA_FLOAT, v));
        }
        return max;
    }

    /** log sum exp(logits - max). */
    private static double logSumExp(MemorySegment logits, float max) {
        double sum = 0;
        for (long v = 0, n = logits.byteSize() / Float.BYTES; v < n; v++) {
            sum += Math.exp(logits.getAtIndex(ValueLayout.JAVA_FLOAT, v) - max);
        }
        return Math.log(sum);
    }

    private static float at(MemorySegment logits, int i) {
        return logits.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenLogprobs t && Float.compare(chosen, t.chosen) == 0 && Arrays.equals(topIds, t.topIds)
                && Arrays.equals(top, t.top);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * Float.hashCode(chosen) + Arrays.hashCode(topIds)) + Arrays.hashCode(top);
    }

    @Override
    public String toString() {
        return "TokenLogprobs[chosen=" + chosen + ", topIds=" + Arrays.toString(topIds) + ", top=" + Arrays.toString(top)
                + "]";
    }
}
