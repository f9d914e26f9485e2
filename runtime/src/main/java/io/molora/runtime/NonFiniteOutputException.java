package io.molora.runtime;

/**
 * A decode gave a sequence logits that are not finite (NaN or infinity): its adapter weights are too large for the
 * model, or the model itself is broken. Only that sequence ends; the others in its batch go on (its rows of the batch
 * are its own, and llama.cpp's attention masks other sequences' cells out).
 */
public final class NonFiniteOutputException extends LlamaException {
    public NonFiniteOutputException(String message) {
        super(message);
    }
}
