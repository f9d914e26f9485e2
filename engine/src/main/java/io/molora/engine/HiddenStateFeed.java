package io.molora.engine;

import io.molora.adapters.gate.BasePass;
import io.molora.adapters.gate.HiddenStates;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;
import java.util.HashMap;
import java.util.Map;

/**
 * The hidden states a {@code token+hidden} gate reads, per sequence: a prompt's from a base pass over it (the "2N
 * work" mode: every prompt token gets its predecessor's state), then those the decode loop produces as it generates
 * (a {@link HiddenStates.Tracker} over the context's decoder, which needs embeddings on). Owns the context of the base
 * passes until closed.
 */
final class HiddenStateFeed implements HiddenStates, AutoCloseable {
    private final BasePass basePass;
    private final Map<Integer, float[][]> prompts = new HashMap<>();
    private HiddenStates decoded = (seq, pos) -> null;

    /** Base passes over {@code model} with the threads of {@code params}. */
    HiddenStateFeed(Model model, ContextParams params) {
        this.basePass = new BasePass(model,
                ContextParams.defaults().withThreads(params.threads(), params.batchThreads()),
                params.contextSize() > 0 ? params.contextSize() : Integer.MAX_VALUE);
    }

    /** Sequence {@code seq} starts (again) with {@code tokens} from position 0: a base pass gives their states. */
    void prefill(int seq, int[] tokens) {
        set(seq, basePass.states(tokens));
    }

    /** The states of a base pass over {@code tokens}, kept nowhere (a request router's input). */
    float[][] pass(int[] tokens) {
        return basePass.states(tokens);
    }

    /** States given in advance for positions {@code 0..states.length-1} of {@code seq}. */
    void set(int seq, float[][] states) {
        prompts.put(seq, states);
    }

    /** No states at all: the router sees none (its gate falls back to its training mean). */
    void clear() {
        prompts.clear();
        decoded = (seq, pos) -> null;
    }

    /** Where the states past the prompt come from: the tracker of the decode loop now running. */
    void follow(HiddenStates source) {
        decoded = source;
    }

    @Override
    public float[] at(int seq, int pos) {
        float[][] prompt = prompts.get(seq);
        return prompt != null && pos < prompt.length ? prompt[pos] : decoded.at(seq, pos);
    }

    /** Base passes run so far. */
    long basePasses() {
        return basePass.passes();
    }

    @Override
    public void close() {
        basePass.close();
    }
}
