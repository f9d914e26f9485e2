package io.molora.engine;

import io.molora.runtime.StopReason;
import io.molora.runtime.TokenLogprobs;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A finished request of a batch.
 *
 * @param adapterTokens   generated tokens per adapter name ("none": the base model); a mixed token counts for each
 * @param routes          each generated token's text and route, when the run traces routes (else empty)
 * @param promptNanos     from taking a slot to the first token
 * @param generationNanos from the first token to the last
 */
public record Completion(CompletionRequest request, String text, StopReason stopReason, int promptTokens,
        int completionTokens, Map<String, Integer> adapterTokens, List<TokenRoute> routes, long promptNanos,
        long generationNanos) {
    public Completion {
        adapterTokens = Collections.unmodifiableMap(new LinkedHashMap<>(adapterTokens));  // in order of first use
        routes = List.copyOf(routes);
    }

    /**
     * A generated token's text and the adapters (non-zero weights, in slot order) it was decoded with.
     *
     * @param logprobs where the token was sampled, when the request asked for them (else null)
     */
    public record TokenRoute(String text, Route route, TokenLogprobs logprobs) {
        public TokenRoute(String text, Route route) {
            this(text, route, null);
        }
    }
}
