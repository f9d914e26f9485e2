package io.molora.engine;

/** Where a batch's results go, in completion order, on the thread that runs the batch. */
public interface CompletionSink {
    void completed(Completion completion);

    /** The request could not run (an unknown adapter, a prompt that does not fit a slot, ...); the others go on. */
    void failed(CompletionRequest request, String message);

    /** A token was generated for {@code request} (progress). */
    default void token(CompletionRequest request) {}
}
