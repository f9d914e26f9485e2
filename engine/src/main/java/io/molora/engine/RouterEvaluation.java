package io.molora.engine;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalDouble;

/**
 * What {@link Engine#evaluateRouter} measured on a held-out corpus.
 *
 * @param tokens           tokens routed
 * @param perplexity       by routing: base, each adapter, best single adapter per sequence, the learned router (and
 *                         for hidden-state features, the learned router without a base pass), the per-token oracle
 * @param basePassSeconds  the base pass that gives a hidden-state gate its states (absent for token features)
 * @param accuracyVsLabels with a labelled corpus: how often the gate chose the domain's adapter
 */
public record RouterEvaluation(long tokens, RouterTrainingSettings.Features features, Map<String, Double> perplexity,
        double routedSeconds, OptionalDouble basePassSeconds, double accuracyVsOracle, OptionalDouble accuracyVsLabels) {
    public RouterEvaluation {
        perplexity = Collections.unmodifiableMap(new LinkedHashMap<>(perplexity));
    }
}
