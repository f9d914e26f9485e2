package io.molora.runtime;

/** The tokens of one decode as a router sees them: read-only. */
public interface TokenBatch {
    int size();

    int token(int i);

    int position(int i);

    int sequence(int i);

    /** Whether input i is an embedding (e.g. an image patch) rather than a token id; batches of token ids: never. */
    default boolean isEmbedding(int i) {
        return false;
    }
}
