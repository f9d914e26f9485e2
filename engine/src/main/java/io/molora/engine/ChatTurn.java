package io.molora.engine;

import io.molora.runtime.StopReason;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/** What one turn of a {@link ChatSession} came to. */
public sealed interface ChatTurn {
    /**
     * The assistant's reply.
     *
     * @param prefilled prompt tokens decoded for this turn
     * @param reused    tokens kept from the KV cache (earlier turns)
     * @param tokens    tokens generated
     * @param seconds   generation time (after the prefill)
     * @param routes    tokens per adapter name ("none": the base model) among the generated tokens that were decoded
     */
    record Reply(String text, int prefilled, int reused, int tokens, double seconds, StopReason stopReason,
            Map<String, Integer> routes) implements ChatTurn {
        public Reply {
            routes = Collections.unmodifiableMap(new LinkedHashMap<>(routes));  // in order of first use
        }

        public double tokensPerSecond() {
            return tokens / Math.max(seconds, 1e-9);
        }
    }

    /**
     * The conversation no longer fits in the context; the user's message was not kept. {@code tokens} is -1 when the
     * text was too long by its characters alone to be tokenized at all.
     */
    record TooLong(int tokens, int contextSize) implements ChatTurn {}
}
