package io.molora.engine;

import io.molora.adapters.eval.Perplexity;
import java.util.Arrays;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * What one eval set or text scored.
 *
 * @param decoded             tokens decoded (scored ones and their context)
 * @param tokenNll            per record, each predicted token's negative log-likelihood (eval records only)
 * @param tokenizerMismatches records whose recorded ids differ from this model's tokenization of their text
 * @param labelAccuracy       of the routed tokens that have a label, the share routed to it (first slot)
 * @param switchesPer100      routed eval records only: how often a token's route (first slot) differs from the one
 *                            before it in its record, per 100 tokens after the first
 */
public record SetScore(String name, Perplexity.Score score, long decoded, Optional<double[][]> tokenNll,
        int tokenizerMismatches, OptionalDouble labelAccuracy, OptionalDouble switchesPer100) {
    public SetScore(String name, Perplexity.Score score, long decoded, Optional<double[][]> tokenNll,
            int tokenizerMismatches, OptionalDouble labelAccuracy) {
        this(name, score, decoded, tokenNll, tokenizerMismatches, labelAccuracy, OptionalDouble.empty());
    }

    /** Each record's summed negative log-likelihood (eval records only). */
    public Optional<double[]> recordNll() {
        return tokenNll.map(t -> Arrays.stream(t).mapToDouble(r -> Arrays.stream(r).sum()).toArray());
    }
}
