package io.molora.engine;

import io.molora.runtime.SamplerParams;
import java.util.Objects;

/**
 * One generation: a prompt (tokenized with the model's special tokens), how many tokens at most
 * ({@link Integer#MAX_VALUE}: until end of text or a full context), how to sample, and whether to report each token's
 * route.
 */
public record GenerationRequest(String prompt, int maxTokens, SamplerParams sampling, boolean traceRoutes) {
    public GenerationRequest {
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampling, "sampling");
        if (maxTokens < 0) {
            throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        }
    }
}
