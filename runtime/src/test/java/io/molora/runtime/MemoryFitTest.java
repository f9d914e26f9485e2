package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class MemoryFitTest {
    private static final long MIB = 1L << 20;
    private static final long GIB = 1L << 30;

    /** 28 layers of 100 MiB, a 250 MiB output layer, GQA KV width 1024, 32000 vocab, 16 heads. */
    private static MemoryFit.Footprint model() {
        long[] layers = new long[28];
        Arrays.fill(layers, 100 * MIB);
        return new MemoryFit.Footprint(layers, 250 * MIB, 4 * MIB, 1024, 32000, 2048, 16);
    }

    @Test
    void countsLayersOutputKvAndComputeBuffer() {
        MemoryFit.Footprint f = model();
        long kvPerLayer = 4096L * 1024 * 2;
        long compute = MemoryFit.computeBytes(f, 4096, 512);
        assertEquals(28 * (104 * MIB) + 250 * MIB + 28 * kvPerLayer + compute, MemoryFit.required(f, -1, 4096, 512));
        // -ngl 28 offloads the repeating layers but not the output layer
        assertEquals(28 * (104 * MIB) + 28 * kvPerLayer + compute, MemoryFit.required(f, 28, 4096, 512));
        assertEquals(0, MemoryFit.required(f, 0, 4096, 512), "nothing on the GPU with -ngl 0");
        assertEquals(10 * (104 * MIB) + 10 * kvPerLayer + compute, MemoryFit.required(f, 10, 4096, 512));
    }

    @Test
    void fitsWhenFreeMemoryCoversTheEstimatePlusReserve() {
        long need = MemoryFit.required(model(), -1, 4096, 512);
        assertTrue(MemoryFit.check(model(), -1, 4096, 512, need + MemoryFit.RESERVE_BYTES, "GPU0").fits());
        assertFalse(MemoryFit.check(model(), -1, 4096, 512, need + MemoryFit.RESERVE_BYTES - 1, "GPU0").fits());
    }

    @Test
    void suggestsTheLargestLayerCountAndContextThatFit() {
        MemoryFit.Footprint f = model();
        long free = 2 * GIB;
        MemoryFit.Verdict v = MemoryFit.check(f, -1, 32768, 512, free, "RTX 3060");
        assertFalse(v.fits());
        assertTrue(v.suggestedGpuLayers() >= 0 && v.suggestedGpuLayers() < 28, v.message());
        assertTrue(MemoryFit.required(f, v.suggestedGpuLayers(), 32768, 512) <= free - MemoryFit.RESERVE_BYTES);
        assertTrue(MemoryFit.required(f, v.suggestedGpuLayers() + 1, 32768, 512) > free - MemoryFit.RESERVE_BYTES);
        assertTrue(v.message().contains("RTX 3060") && v.message().contains("-ngl " + v.suggestedGpuLayers()),
                v.message());
    }

    @Test
    void saysSoWhenNothingFits() {
        MemoryFit.Verdict v = MemoryFit.check(model(), -1, 4096, 512, 700 * MIB, "small GPU");
        assertFalse(v.fits());
        assertEquals(0, v.suggestedGpuLayers(), "only -ngl 0 fits: everything on the CPU");
    }
}
