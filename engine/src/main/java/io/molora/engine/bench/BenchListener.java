package io.molora.engine.bench;

/** Hears a benchmark's results as they come (a run takes minutes). */
public interface BenchListener {
    /** A scenario finished. */
    void row(BenchRow row);

    /** Something the reader of the results should know (a scenario that could not run, and why). */
    default void note(String line) {}
}
