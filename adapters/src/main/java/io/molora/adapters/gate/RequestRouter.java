package io.molora.adapters.gate;

import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.Arrays;

/**
 * One adapter per request, as TT-LoRA MoE's router picks one expert per input: a {@link Gate} reads the mean of the
 * base model's final hidden states over the prompt (a base pass over it) and the request's every token — prompt and
 * reply — goes to the adapter with the highest score ({@code scores[0]}, the base model, when that is highest).
 *
 * <p>{@link #choose} runs when a sequence starts, before its first decode; {@link #route} only looks the choice up.
 */
public final class RequestRouter implements Router {
    private final Gate gate;
    private final float[] scores;
    private int[] chosen = new int[0];  // per sequence: adapter id, RouteTable.NONE for the base model

    /**
     * @param hiddenSize the width of the model's hidden states, which the gate must read (checked now, so that a
     *                   router file for another width is refused when it loads, not at the first request)
     */
    public RequestRouter(Gate gate, int hiddenSize) {
        if (gate.inputs() != hiddenSize) {
            throw new IllegalArgumentException("the request router reads " + gate.inputs() + " features but the "
                    + "model's hidden states have " + hiddenSize);
        }
        this.gate = gate;
        this.scores = new float[gate.outputs()];
    }

    /** The gate's input for a prompt: the mean over its positions of the base pass's final hidden states. */
    public static float[] features(float[][] promptStates) {
        if (promptStates.length == 0) {
            throw new IllegalArgumentException("a request router needs the hidden states of at least one token");
        }
        float[] mean = new float[promptStates[0].length];
        for (float[] h : promptStates) {
            for (int i = 0; i < mean.length; i++) {
                mean[i] += h[i];
            }
        }
        for (int i = 0; i < mean.length; i++) {
            mean[i] /= promptStates.length;
        }
        return mean;
    }

    /** The choice for a prompt: an adapter id, or {@link RouteTable#NONE} for the base model. */
    public int decide(float[][] promptStates) {
        float[] x = features(promptStates);
        if (x.length != gate.inputs()) {
            throw new IllegalArgumentException("the gate reads " + gate.inputs() + " features, the model's hidden "
                    + "states have " + x.length);
        }
        gate.scores(x, 0, scores);
        int best = 0;
        for (int c = 1; c < scores.length; c++) {
            if (scores[c] > scores[best]) {
                best = c;
            }
        }
        return best - 1;  // scores[0] is the base model: NONE
    }

    /** Sequence {@code seq} starts with a prompt whose base-pass states are {@code promptStates}: its adapter now. */
    public int choose(int seq, float[][] promptStates) {
        if (seq >= chosen.length) {
            int old = chosen.length;
            chosen = Arrays.copyOf(chosen, seq + 1);
            Arrays.fill(chosen, old, seq + 1, RouteTable.NONE);
        }
        chosen[seq] = decide(promptStates);
        return chosen[seq];
    }

    /** The adapter sequence {@code seq} was given ({@link RouteTable#NONE}: the base model, or not chosen yet). */
    public int chosen(int seq) {
        return seq < chosen.length ? chosen[seq] : RouteTable.NONE;
    }

    @Override
    public void route(TokenBatch batch, RouteTable routes) {
        for (int i = 0, n = batch.size(); i < n; i++) {
            routes.set(i, chosen(batch.sequence(i)), 1f);
        }
    }
}
