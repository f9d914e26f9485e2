package io.molora.runtime;

/**
 * One generated token.
 *
 * @param id       token id
 * @param text     the text this token completes (may be empty while a multi-byte character is incomplete)
 * @param position its position in the sequence
 * @param logprobs the model's log-probabilities where it was sampled; null unless they were asked for
 */
public record GeneratedToken(int id, String text, int position, TokenLogprobs logprobs) {
    /** Without log-probabilities. */
    public GeneratedToken(int id, String text, int position) {
        this(id, text, position, null);
    }
}
