package io.molora.runtime;

/** Why a generation ended. */
public enum StopReason {
    /** The model produced an end-of-generation token. */
    END_OF_GENERATION,
    /** The requested number of tokens was generated. */
    MAX_TOKENS,
    /** The KV cache is full. */
    CONTEXT_FULL,
    /** The text reached one of the request's stop strings (cut before it); the decode loops never end so on their own. */
    STOP_STRING,
    /** The caller stopped it (closed the stream early, or cancelled). */
    CANCELLED
}
