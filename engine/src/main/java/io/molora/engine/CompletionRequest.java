package io.molora.engine;

import io.molora.runtime.SamplerParams;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One request of a batch.
 *
 * @param id        the caller's name for it, handed back with its result
 * @param maxTokens most tokens to generate ({@link Integer#MAX_VALUE}: until end of text or a full slot)
 * @param adapters  a fixed mix for this request; absent: the run's default (see {@link CompletionSettings})
 * @param stop      strings that end the generation where the text reaches one (the text is cut before it)
 */
public record CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling,
        Optional<AdapterMix> adapters, List<String> stop) {
    public CompletionRequest {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(adapters, "adapters");
        stop = List.copyOf(stop);
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("a stop string is empty");
            }
        }
    }

    /** Without stop strings. */
    public CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling,
            Optional<AdapterMix> adapters) {
        this(id, prompt, maxTokens, sampling, adapters, List.of());
    }

    /** With the run's default adapters. */
    public CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling) {
        this(id, prompt, maxTokens, sampling, Optional.empty());
    }

    public CompletionRequest withAdapters(AdapterMix mix) {
        return new CompletionRequest(id, prompt, maxTokens, sampling, Optional.of(mix), stop);
    }
}
