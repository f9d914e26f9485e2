package io.molora.engine;

/**
 * How {@link Engine#perplexity} scores eval records.
 *
 * @param spanRoutes route each token to the adapter its label names (the span-label oracle) instead of the engine's
 *                   routing; every record must be labelled
 * @param basePass   give a hidden-state router its states from a base pass over each record (2N work); without, the
 *                   gate sees no earlier state (N work)
 */
public record ScoringOptions(boolean spanRoutes, boolean basePass) {
    /** The engine's routing, with a base pass where the router reads hidden states. */
    public static ScoringOptions defaults() {
        return new ScoringOptions(false, true);
    }
}
