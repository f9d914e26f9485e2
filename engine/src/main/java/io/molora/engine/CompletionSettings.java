package io.molora.engine;

import java.util.Objects;
import java.util.Optional;

/**
 * How a batch runs.
 *
 * @param parallel        sequences decoded at once, each with {@code contextSize / parallel} positions
 * @param defaultAdapters the mix of requests that name none; absent: the engine's token router where it has one
 *                        (routed per token), else every adapter
 * @param traceRoutes     report each generated token's route
 */
public record CompletionSettings(int parallel, Optional<AdapterMix> defaultAdapters, boolean traceRoutes) {
    public CompletionSettings {
        Objects.requireNonNull(defaultAdapters, "defaultAdapters");
        if (parallel < 1) {
            throw new IllegalArgumentException("parallel must be >= 1, got " + parallel);
        }
    }
}
