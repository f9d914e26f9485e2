package io.molora.engine;

/**
 * A prompt that does not fit where it must go (a batch slot, a context). {@code tokens} is its length in tokens, or -1
 * when it was refused by its length in characters alone, without tokenizing it ({@code characters} then tells).
 */
public final class PromptTooLongException extends IllegalArgumentException {
    private final int tokens;
    private final int limit;

    PromptTooLongException(String message, int tokens, int limit) {
        super(message);
        this.tokens = tokens;
        this.limit = limit;
    }

    /** The prompt's tokens, or -1 when it was not tokenized (too long by its characters). */
    public int tokens() {
        return tokens;
    }

    /** The positions it had to fit in. */
    public int limit() {
        return limit;
    }
}
