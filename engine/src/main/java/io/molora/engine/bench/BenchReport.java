package io.molora.engine.bench;

import java.util.List;

/** Every scenario's tokens/s in the order they ran, and the ratios between them that the benchmark exists for. */
public record BenchReport(List<BenchRow> rows, List<BenchRatio> ratios) {
    public BenchReport {
        rows = List.copyOf(rows);
        ratios = List.copyOf(ratios);
    }
}
