package io.molora.engine;

import io.molora.adapters.eval.SpanLabels;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * One record of an eval set: its text; when the writer recorded them, the token ids it expected (a difference from
 * this model's tokenization is counted, not fatal); and its domain spans, which label each token with an adapter (a
 * record without spans whose set is named like an adapter is labelled with that adapter throughout).
 */
public record EvalRecord(String set, String text, Optional<int[]> ids, Optional<List<SpanLabels.Span>> spans) {
    public EvalRecord {
        Objects.requireNonNull(set, "set");
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(ids, "ids");
        spans = spans.map(List::copyOf);
    }

    /** A record without recorded ids or spans. */
    public EvalRecord(String set, String text) {
        this(set, text, Optional.empty(), Optional.empty());
    }
}
