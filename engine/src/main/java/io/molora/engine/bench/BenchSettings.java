package io.molora.engine.bench;

import io.molora.gguf.GgmlType;
import io.molora.runtime.RoutingForm;
import java.util.Objects;

/**
 * What {@link Benchmark#run} measures and on what: the synthetic model's size and weight type, K adapters of one rank
 * and tensor type, and the lengths of the generation, prefill and multi-sequence scenarios.
 *
 * @param size             tiny (n_embd 64), small (256, 4 layers), medium (1024, 8 layers) or 1.5b (2048, 28 layers)
 * @param adapters         K, the number of adapters
 * @param gen              tokens generated per generation run (at least 2)
 * @param prompt           prompt tokens before generation
 * @param prefill          prompt tokens of the prefill scenarios
 * @param parallel         sequences of the multi-sequence scenarios
 * @param repeat           runs per scenario, the best kept (prefill: at least 10)
 * @param segmentedPrefill include prefill with per-token switching through the stock API (slow)
 * @param nativeReference  also run native-build's C++ decode loop on the same files
 * @param gpuLayers        layers offloaded to the GPU (-1 = all)
 * @param threads          threads (0 = all cores)
 */
public record BenchSettings(String size, GgmlType type, int adapters, int rank, GgmlType adapterType, int gen,
        int prompt, int prefill, int parallel, int repeat, boolean segmentedPrefill, boolean nativeReference,
        int gpuLayers, int threads, RoutingForm routingForm) {
    public BenchSettings {
        Objects.requireNonNull(size, "size");
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(adapterType, "adapterType");
        Objects.requireNonNull(routingForm, "routingForm");
        if (adapters < 1 || rank < 1 || prompt < 1 || prefill < 1 || parallel < 1 || repeat < 1) {
            throw new IllegalArgumentException("adapters, rank, prompt, prefill, parallel and repeat must be >= 1");
        }
        if (gen < 2) {
            throw new IllegalArgumentException("gen must be >= 2, got " + gen);
        }
        if (adapterType != GgmlType.F16 && adapterType != GgmlType.F32) {
            throw new IllegalArgumentException("the adapter type must be F16 or F32, got " + adapterType);
        }
        if (!BenchFixture.SIZES.contains(size)) {
            throw new IllegalArgumentException("the size must be one of " + BenchFixture.SIZES + ", got '" + size + "'");
        }
    }

    /** Runs of each prefill scenario: one prefill is a single decode call (tens of ms on a GPU), so at least 10. */
    int prefillRepeat() {
        return Math.max(repeat, 10);
    }
}
