package io.molora.adapters.peft;

import io.molora.runtime.LlamaException;

/** A PEFT adapter directory that cannot be converted: one line naming the file and what to fix. */
public final class PeftException extends LlamaException {
    public PeftException(String message) {
        super(message);
    }

    public PeftException(String message, Throwable cause) {
        super(message, cause);
    }
}
