package io.molora.engine.bench;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgmlType;
import io.molora.runtime.RoutingForm;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The benchmark on the tiny synthetic model, short runs: every scenario runs and reports as it finishes, the ratios
 * are the quotients of the rows they name, the native reference loop runs beside it, and the files are written once.
 */
class BenchmarkTest {
    @TempDir
    Path cache;

    private static BenchSettings tiny(int adapters, boolean nativeReference) {
        return new BenchSettings("tiny", GgmlType.F32, adapters, 4, GgmlType.F16, 4, 3, 16, 3, 1, true,
                nativeReference, NativeTestSupport.gpuLayers(), 1, RoutingForm.AUTO);
    }

    @Test
    void everyScenarioRunsAndTheRatiosAreTheRowsQuotients() throws IOException {
        BenchSettings s = tiny(2, true);
        BenchFixture fixture = BenchFixture.ensure(s, cache, NativeTestSupport.llamaSource());
        List<BenchRow> heard = new ArrayList<>();
        BenchReport report = Benchmark.run(s, fixture, heard::add);

        assertEquals(report.rows(), heard, "each row is reported as it finishes, in the report's order");
        List<String> names = report.rows().stream().map(BenchRow::name).toList();
        assertEquals(List.of(Benchmark.GEN_BASE, Benchmark.GEN_FIXED, Benchmark.GEN_ROUTED, Benchmark.GEN_MIX,
                Benchmark.GEN_ROUTED_NONE, Benchmark.GEN_ROUTED_ONE, Benchmark.GEN_STOCK_SWITCHING, Benchmark.GEN_GATE,
                Benchmark.GEN_GATE_REPLAY, Benchmark.PREFILL_BASE,
                Benchmark.PREFILL_FIXED, Benchmark.PREFILL_ROUTED, Benchmark.PREFILL_ROUTED_ONE,
                Benchmark.PREFILL_STOCK_SWITCHING,
                Benchmark.PREFILL_PER_ADAPTER, "batch 3: one adapter (stock)", "batch 3: 2 adapters, routed per sequence",
                "native gen: no adapter", "native prefill: no adapter", "native gen: one adapter fixed (stock)",
                "native prefill: one adapter fixed (stock)"), names);
        for (BenchRow r : report.rows()) {
            assertTrue(r.tokensPerSecond() > 0 && Double.isFinite(r.tokensPerSecond()), r.toString());
        }
        Map<String, Double> byName = report.rows().stream()
                .collect(Collectors.toMap(BenchRow::name, BenchRow::tokensPerSecond));
        assertEquals(16, report.ratios().size(), report.ratios().toString());
        for (BenchRatio r : report.ratios()) {
            assertEquals(byName.get(r.numerator()) / byName.get(r.denominator()), r.value(), 1e-12, r.toString());
        }
        assertTrue(report.ratios().stream().anyMatch(r -> r.numerator().equals(Benchmark.GEN_ROUTED)
                && r.denominator().equals(Benchmark.GEN_FIXED) && r.target().equals(">= 0.90")));
    }

    @Test
    void withoutTheSegmentedPrefillOrTheNativeLoopTheirRowsAndRatiosAreLeftOut() throws IOException {
        BenchSettings s = new BenchSettings("tiny", GgmlType.F32, 1, 4, GgmlType.F32, 3, 2, 8, 1, 1, false, false,
                NativeTestSupport.gpuLayers(), 1, RoutingForm.AUTO);
        BenchReport report = Benchmark.run(s, BenchFixture.ensure(s, cache, NativeTestSupport.llamaSource()), r -> { });
        Map<String, BenchRow> rows = report.rows().stream()
                .collect(Collectors.toMap(BenchRow::name, Function.identity()));
        assertEquals(16, rows.size(), rows.keySet().toString());
        assertTrue(rows.keySet().stream().noneMatch(n -> n.startsWith("native") || n.equals(Benchmark.PREFILL_STOCK_SWITCHING)));
        assertTrue(report.ratios().stream().noneMatch(r -> r.denominator().startsWith("native")
                || r.denominator().equals(Benchmark.PREFILL_STOCK_SWITCHING)));
        assertTrue(rows.containsKey("batch 1: 1 adapters, routed per sequence"));
    }

    @Test
    void theFilesAreWrittenOnceAndReused() throws IOException {
        BenchSettings s = tiny(2, false);
        BenchFixture first = BenchFixture.ensure(s, cache, NativeTestSupport.llamaSource());
        FileTime written = Files.getLastModifiedTime(first.model());
        BenchFixture again = BenchFixture.ensure(s, cache, NativeTestSupport.llamaSource());
        assertEquals(first, again);
        assertEquals(written, Files.getLastModifiedTime(again.model()));
        assertEquals(2, again.adapters().size());
        try (var files = Files.list(first.model().getParent())) {
            assertTrue(files.noneMatch(p -> p.getFileName().toString().endsWith(".partial")
                    || p.getFileName().toString().endsWith(".tmp")), "no temporary file left (OutputFile's are .tmp)");
        }
    }

    @Test
    void settingsOutsideTheirRangesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new BenchSettings("huge", GgmlType.F16, 2, 4,
                GgmlType.F16, 4, 3, 16, 3, 1, true, true, -1, 0, RoutingForm.AUTO));
        assertThrows(IllegalArgumentException.class, () -> new BenchSettings("tiny", GgmlType.F16, 2, 4,
                GgmlType.Q8_0, 4, 3, 16, 3, 1, true, true, -1, 0, RoutingForm.AUTO));
        assertThrows(IllegalArgumentException.class, () -> new BenchSettings("tiny", GgmlType.F16, 2, 4,
                GgmlType.F16, 1, 3, 16, 3, 1, true, true, -1, 0, RoutingForm.AUTO));
        assertThrows(IllegalArgumentException.class, () -> new BenchSettings("tiny", GgmlType.F16, 0, 4,
                GgmlType.F16, 4, 3, 16, 3, 1, true, true, -1, 0, RoutingForm.AUTO));
    }
}
