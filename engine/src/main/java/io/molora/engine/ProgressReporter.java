package io.molora.engine;

/** Where long work reports its progress: each task of known length gets a counter, closed when the task ends. */
@FunctionalInterface
public interface ProgressReporter {
    /** A task's counter. */
    interface Counter extends AutoCloseable {
        /** {@code done} of the task's steps are finished. */
        void stepTo(long done);

        @Override
        void close();
    }

    Counter start(String task, int total);

    /** Reports nothing. */
    static ProgressReporter none() {
        return (task, total) -> new Counter() {
            @Override
            public void stepTo(long done) {}

            @Override
            public void close() {}
        };
    }
}
