package io.molora.runtime;

/** A failure reported by llama.cpp or detected before calling it; the message says what to fix. */
public class LlamaException extends RuntimeException {
    public LlamaException(String message) {
        super(message);
    }

    public LlamaException(String message, Throwable cause) {
        super(message, cause);
    }
}
