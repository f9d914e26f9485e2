package io.molora.runtime;

/** The KV cache has no room for the tokens submitted. */
public final class ContextFullException extends LlamaException {
    public ContextFullException(String message) {
        super(message);
    }
}
