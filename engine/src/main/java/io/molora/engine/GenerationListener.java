package io.molora.engine;

import io.molora.runtime.GeneratedToken;
import java.util.List;

/** What {@link Engine#generate} reports as it goes, on the calling thread. */
public interface GenerationListener {
    /** A piece of text and the route of the token it came from. */
    record Piece(String text, Route route) {}

    /**
     * The prompt is decoded (called once, before the first token): with {@code traceRoutes} its pieces with the
     * routes they were decoded with (the tokenizer's leading space dropped where the prompt has none), else empty.
     */
    default void prefilled(List<Piece> prompt) {}

    /** A generated token; with {@code traceRoutes} the route it was decoded with, else {@link Route#UNKNOWN}. */
    void token(GeneratedToken token, Route route);

    /**
     * Asked after each token: true ends the generation there (stop reason {@code CANCELLED}), e.g. when whoever
     * reads the text has gone.
     */
    default boolean stop() {
        return false;
    }
}
