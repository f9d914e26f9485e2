package io.molora.engine;

import io.molora.adapters.eval.Perplexity;
import java.util.Optional;

/**
 * What one eval set or text scored.
 *
 * @param decoded             tokens decoded (scored ones and their context)
 * @param recordNll           each record's summed negative log-likelihood (eval records only)
 * @param tokenizerMismatches records whose recorded ids differ from this model's tokenization of their text
 */
public record SetScore(String name, Perplexity.Score score, long decoded, Optional<double[]> recordNll,
        int tokenizerMismatches) {}
