package io.molora.engine;

import java.util.Objects;
import java.util.Optional;

/**
 * One record of an eval set: its text and, when the writer recorded them, the token ids it expected (a difference
 * from this model's tokenization is counted, not fatal).
 */
public record EvalRecord(String set, String text, Optional<int[]> ids) {
    public EvalRecord {
        Objects.requireNonNull(set, "set");
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(ids, "ids");
    }
}
