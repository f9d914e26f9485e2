package io.molora.engine;

import io.molora.adapters.gate.GateTrainer;
import io.molora.adapters.gate.RouterFile;

/**
 * How {@link Engine#trainRouter} trains a gate.
 *
 * @param hidden   hidden units (0: a linear gate)
 * @param features what the gate reads per token
 * @param seqLen   tokens per training sequence
 * @param objective what the gate learns: the oracle's argmax, or the losses themselves (unlabelled corpora only)
 * @param switchBonus saved with the router: the stickiness of its routes ({@code LearnedRouter}), 0 for none
 * @param passCache  where an unlabelled corpus's passes (base and each adapter) are kept for the next router trained
 *                   on it ({@code RouterPasses}); empty: computed every time
 */
public record RouterTrainingSettings(int hidden, int epochs, float learningRate, long seed, Features features,
        int seqLen, GateTrainer.Objective objective, float switchBonus, java.util.Optional<java.nio.file.Path> passCache) {
    /** With the oracle objective (cross-entropy against each token's best choice), no switch bonus, no pass cache. */
    public RouterTrainingSettings(int hidden, int epochs, float learningRate, long seed, Features features, int seqLen) {
        this(hidden, epochs, learningRate, seed, features, seqLen, GateTrainer.Objective.ORACLE, 0f,
                java.util.Optional.empty());
    }

    /** The gate's input: per token, or per request. */
    public enum Features {
        /** The token's embedding: no extra pass, at training or at routing time. */
        TOKEN(RouterFile.FEATURES_TOKEN),
        /** The token's embedding and the previous position's final hidden state (one base pass over the text). */
        TOKEN_HIDDEN(RouterFile.FEATURES_TOKEN_HIDDEN),
        /**
         * Per request (TT-LoRA MoE's router): the mean of the final hidden states over the text (one base pass), one
         * adapter for all its tokens; trained on labelled corpora, one example per sequence.
         */
        REQUEST(RouterFile.FEATURES_REQUEST);

        private final String fileName;

        Features(String fileName) {
            this.fileName = fileName;
        }

        /** As router files record it. */
        public String fileName() {
            return fileName;
        }

        static Features of(String fileName) {
            for (Features f : values()) {
                if (f.fileName.equals(fileName)) {
                    return f;
                }
            }
            throw new IllegalArgumentException("unknown router features '" + fileName + "'");
        }
    }

    public RouterTrainingSettings {
        if (hidden < 0 || epochs < 1 || seqLen < 2 || !(learningRate > 0)) {
            throw new IllegalArgumentException("hidden >= 0, epochs >= 1, seqLen >= 2 and a positive learning rate, got "
                    + hidden + ", " + epochs + ", " + seqLen + ", " + learningRate);
        }
        java.util.Objects.requireNonNull(objective, "objective");
        java.util.Objects.requireNonNull(passCache, "passCache");
        if (!(switchBonus >= 0) || switchBonus > 1e3) {
            throw new IllegalArgumentException("switch bonus must be 0 to 1000, got " + switchBonus);
        }
    }
}
