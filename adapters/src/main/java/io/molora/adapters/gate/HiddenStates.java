package io.molora.adapters.gate;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import java.util.Arrays;

/**
 * The final hidden state of earlier positions, the MoLoRA gate's context feature: the router of the token at position
 * p reads the hidden state of p-1.
 *
 * <p>{@link #tracking} captures it from the decode loop at no extra cost: after each decode, the hidden state of each
 * output token (the last prompt token, then every generated token) is kept per sequence — so in generation every
 * token has its predecessor's state. Prompt tokens other than the first after a decode do not (they are decoded in
 * the same batch as their predecessor): for them the gate gets its training mean ("N work" mode), unless the caller
 * runs a base pass first and supplies the states with {@link #of} ("2N work" mode).
 */
public interface HiddenStates {
    /** The hidden state after position {@code pos} of {@code seq}, or null when not known. */
    float[] at(int seq, int pos);

    /** Precomputed states: {@code states[seq][pos]} (e.g. from a base pass over a prompt). */
    static HiddenStates of(float[][][] states) {
        return (seq, pos) -> seq >= 0 && seq < states.length && pos >= 0 && pos < states[seq].length
                ? states[seq][pos] : null;
    }

    /** A decoder that records the hidden state of every output token it decodes (needs embeddings enabled). */
    static Tracker tracking(Context context, Decoder inner) {
        return new Tracker(context, inner);
    }

    /** Records, per sequence, the last output position's hidden state. */
    final class Tracker implements Decoder, HiddenStates {
        private final Context context;
        private final Decoder inner;
        private int[] lastPos = new int[0];
        private float[][] last = new float[0][];

        Tracker(Context context, Decoder inner) {
            if (!context.params().embeddings()) {
                throw new IllegalArgumentException("hidden-state features need a context with embeddings enabled");
            }
            this.context = context;
            this.inner = inner;
        }

        @Override
        public void decode(Batch batch) {
            // a sequence that starts again at position 0 (a batch slot given a new request) has no earlier state:
            // the one kept is its previous request's, which its router must not read
            for (int i = 0, n = batch.size(); i < n; i++) {
                int s = batch.sequence(i);
                if (batch.position(i) == 0 && s < lastPos.length) {
                    lastPos[s] = -1;
                    last[s] = null;
                }
            }
            inner.decode(batch);
            for (int i = 0, n = batch.size(); i < n; i++) {
                if (batch.isOutput(i)) {
                    int s = batch.sequence(i);
                    if (s >= lastPos.length) {
                        int old = lastPos.length;
                        lastPos = Arrays.copyOf(lastPos, s + 1);
                        Arrays.fill(lastPos, old, s + 1, -1);
                        last = Arrays.copyOf(last, s + 1);
                    }
                    lastPos[s] = batch.position(i);
                    last[s] = context.embedding(i);
                }
            }
        }

        @Override
        public float[] at(int seq, int pos) {
            return seq >= 0 && seq < lastPos.length && lastPos[seq] == pos ? last[seq] : null;
        }
    }
}
