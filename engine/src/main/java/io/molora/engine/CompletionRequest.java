package io.molora.engine;

import io.molora.runtime.SamplerParams;
import io.molora.runtime.TokenLogprobs;
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
 * @param logprobs  -1: none; n from 0 to {@link TokenLogprobs#MAX_TOP}: each generated token's log-probability and
 *                  the n most likely alternatives, with its piece of text
 */
public record CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling,
        Optional<AdapterMix> adapters, List<String> stop, int logprobs) {
    /** The most stop strings a request may have (OpenAI allows 4, llama-server any number). */
    public static final int MAX_STOP_STRINGS = 16;

    public CompletionRequest {
        Objects.requireNonNull(id, "id");
        Objects.requireNonNull(prompt, "prompt");
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(adapters, "adapters");
        stop = List.copyOf(stop);
        if (stop.size() > MAX_STOP_STRINGS) {
            throw new IllegalArgumentException("at most " + MAX_STOP_STRINGS + " stop strings, got " + stop.size());
        }
        for (String s : stop) {
            if (s.isEmpty()) {
                throw new IllegalArgumentException("a stop string is empty");
            }
        }
        if (logprobs < -1 || logprobs > TokenLogprobs.MAX_TOP) {
            throw new IllegalArgumentException("logprobs must be 0 to " + TokenLogprobs.MAX_TOP + ", got " + logprobs);
        }
    }

    /** Without log-probabilities. */
    public CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling,
            Optional<AdapterMix> adapters, List<String> stop) {
        this(id, prompt, maxTokens, sampling, adapters, stop, -1);
    }

    /** Without stop strings. */
    public CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling,
            Optional<AdapterMix> adapters) {
        this(id, prompt, maxTokens, sampling, adapters, List.of(), -1);
    }

    /** With the run's default adapters. */
    public CompletionRequest(String id, Prompt prompt, int maxTokens, SamplerParams sampling) {
        this(id, prompt, maxTokens, sampling, Optional.empty());
    }

    public CompletionRequest withAdapters(AdapterMix mix) {
        return new CompletionRequest(id, prompt, maxTokens, sampling, Optional.of(mix), stop, logprobs);
    }

    /** With each token's log-probability and the {@code top} most likely alternatives (-1: none). */
    public CompletionRequest withLogprobs(int top) {
        return new CompletionRequest(id, prompt, maxTokens, sampling, adapters, stop, top);
    }
}
