package io.molora.gguf;

/** Fills row {@code row} (ne[0] float values) of a tensor being generated. */
@FunctionalInterface
public interface RowGenerator {
    void fill(long row, float[] values);
}
