package io.molora.gguf;

import java.io.IOException;

/**
 * The bytes are not a well-formed GGUF file. Checked (an {@link IOException}) because a
 * broken file is an expected outcome of reading untrusted input, not a programming error.
 * The message always names the byte offset where the problem was found.
 */
public final class GgufFormatException extends IOException {
    private static final long serialVersionUID = 1L;

    private final long offset;

    public GgufFormatException(long offset, String problem) {
        super(offset >= 0 ? "at byte offset " + offset + ": " + problem : problem);
        this.offset = offset;
    }

    /** Byte offset in the file where the problem was detected; -1 for a problem in parsed metadata. */
    public long offset() {
        return offset;
    }
}
