package io.molora.runtime;

/**
 * One generated token.
 *
 * @param id       token id
 * @param text     the text this token completes (may be empty while a multi-byte character is incomplete)
 * @param position its position in the sequence
 */
public record GeneratedToken(int id, String text, int position) {}
