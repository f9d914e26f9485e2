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

    /** One token as a batch: for asking a router about a token that is not (yet) decoded. */
    static TokenBatch single(int token, int position, int sequence) {
        return new TokenBatch() {
            @Override
            public int size() {
                return 1;
            }

            @Override
            public int token(int i) {
                return token;
            }

            @Override
            public int position(int i) {
                return position;
            }

            @Override
            public int sequence(int i) {
                return sequence;
            }
        };
    }
}
