package io.molora.engine;

import io.molora.runtime.SamplerParams;
import java.util.Objects;
import java.util.Optional;

/**
 * How a {@link ChatSession} runs.
 *
 * @param maxTokens    most tokens per reply ({@link Integer#MAX_VALUE}: until the model ends its turn or the context
 *                     is full)
 * @param template     a built-in chat template (chatml, llama3, ...) instead of the model's own
 * @param systemPrompt the conversation's system message
 * @param adapters     the adapters of the first replies; when absent, the token router where the engine has one, else
 *                     every adapter
 */
public record ChatSettings(SamplerParams sampling, int maxTokens, Optional<String> template,
        Optional<String> systemPrompt, Optional<AdapterMix> adapters) {
    public ChatSettings {
        Objects.requireNonNull(sampling, "sampling");
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(systemPrompt, "systemPrompt");
        Objects.requireNonNull(adapters, "adapters");
        if (maxTokens < 0) {
            throw new IllegalArgumentException("maxTokens must be >= 0, got " + maxTokens);
        }
    }

    /** llama.cpp's sampling defaults, replies until the end of the turn, the model's template, no system prompt. */
    public static ChatSettings defaults() {
        return new ChatSettings(SamplerParams.defaults(), Integer.MAX_VALUE, Optional.empty(), Optional.empty(),
                Optional.empty());
    }

    public ChatSettings withSampling(SamplerParams s) {
        return new ChatSettings(s, maxTokens, template, systemPrompt, adapters);
    }

    public ChatSettings withMaxTokens(int n) {
        return new ChatSettings(sampling, n, template, systemPrompt, adapters);
    }

    public ChatSettings withTemplate(String name) {
        return new ChatSettings(sampling, maxTokens, Optional.of(name), systemPrompt, adapters);
    }

    public ChatSettings withSystemPrompt(String text) {
        return new ChatSettings(sampling, maxTokens, template, Optional.of(text), adapters);
    }

    public ChatSettings withAdapters(AdapterMix mix) {
        return new ChatSettings(sampling, maxTokens, template, systemPrompt, Optional.of(mix));
    }
}
