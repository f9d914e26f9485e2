package io.molora.runtime;

/** The tokens of one decode as a router sees them: read-only. */
public interface TokenBatch {
    int size();

    int token(int i);

    int position(int i);

    int sequence(int i);
}
