package io.molora.adapters;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.routers.FixedMixRouter;
import io.molora.adapters.routers.FixedRouter;
import io.molora.adapters.routers.TokenListRouter;
import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.Generator;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The in-graph routed path (molora's llama.cpp patch) against the oracle: stock llama.cpp, segmented — for each run
 * of tokens with one route, set that adapter globally with {@code llama_set_adapters_lora} and decode the run.
 * Three F32 adapters of different ranks, alphas, scales and target sets (one touches the token embedding and the
 * output, one only attention) and an F16 one, registered together (F32 routed copies); and a set of two F16 adapters
 * (F16 routed copies). Several sequences in one batch, batches larger than n_ubatch.
 */
class RoutingOracleTest {
    /**
     * Max |logit difference| relative to the largest |logit|. Not zero: the routed path sums the same products in
     * another order (zero-padded concatenated ranks, scale folded into B), and random-weight models amplify that.
     */
    private static final float TOLERANCE = 5e-4f;
    /**
     * For F16 adapters: the routed path multiplies the F16 weights in F32, stock llama.cpp on CPU rounds the activations
     * to F16 first. Measured on these random-weight models (where an adapter moves the logits by more than their own
     * range): routed F32 adapter vs stock F32 adapter = 0.0 exactly; stock with the adapter in F16 vs in F32 = 0.039;
     * routed F16 vs stock F32 = 0.030 — the routed path is the more exact one, and the gap to stock F16 (up to ~1% of
     * the logit range) is stock's activation rounding. One ubatch of one sequence stays within this tolerance.
     */
    private static final float TOLERANCE_F16 = 3e-3f;
    /**
     * For an all-F16 set, whose routed copies are F16 too: exact but for the folded scale. With a power-of-two scale
     * (adapter half: 2) routed equals stock within {@link #TOLERANCE}; with 1.35 (half2) B·1.35 rounds to F16, 2^-11
     * of each weight, and these random models amplify that to 4.8e-3 of the logit range (measured) — the same order
     * as stock's own difference between the adapter stored in F16 and in F32 (about 4e-3).
     */
    private static final float TOLERANCE_F16_COPIES = 1e-2f;
    /** Offloaded: how many times stock llama.cpp's own GPU-vs-CPU deviation the routed path may deviate. */
    private static final float FLOOR_FACTOR = 8f;

    /** A model and the adapters loaded for it: the test's own (maybe offloaded), or the CPU reference. */
    private record Loaded(Model model, AdapterSet adapters) {}

    @TempDir
    static Path dir;
    private static Model model;
    private static int vocab;
    /**
     * The exact reference the oracle runs on: the test's own model on the CPU; with {@code -Dmolora.test.gpuLayers}
     * offloading, a CPU copy. GPU kernels round differently from one batch shape to the next (ggml-cuda runs F32
     * products as TF32, small batches take tensor-core kernels, F16 attention), so on a GPU the routed path must be
     * as close to the CPU result as stock llama.cpp on the same GPU is (its "floor"), times {@link #FLOOR_FACTOR}.
     * A routing bug is an O(1) difference, and the multi-sequence checks also show that a route shifted by one token
     * would exceed the tolerance.
     */
    private record Setup(Loaded onDevice, Loaded exact) {
        boolean offloaded() {
            return exact != onDevice;
        }
    }

    /** a, b, c (F32) and half (F16): mixed types, so the routed copies are F32. */
    private static Setup mixed;
    /** half and half2, both F16: the routed copies are F16 too, as for adapters from convert_lora_to_gguf.py. */
    private static Setup halves;
    private static Model cpuModel;
    private static final List<AdapterSet> loadedSets = new ArrayList<>();

    @BeforeAll
    static void load() throws IOException {
        Path modelPath = NativeTestSupport.writeTinyModel(dir, 7);
        EnumSet<LoraTarget> all = EnumSet.of(LoraTarget.Q, LoraTarget.K, LoraTarget.V, LoraTarget.O,
                LoraTarget.GATE, LoraTarget.UP, LoraTarget.DOWN);
        EnumSet<LoraTarget> allPlusEnds = EnumSet.copyOf(all);
        allPlusEnds.add(LoraTarget.OUTPUT);
        allPlusEnds.add(LoraTarget.TOKEN_EMBD);
        Path a = NativeTestSupport.writeLora(dir, new LoraSpec("a", 4, 8f, allPlusEnds, 1, 1.5f, GgmlType.F32));
        Path b = NativeTestSupport.writeLora(dir, new LoraSpec("b", 8, 8f, all, 2, 1.5f, GgmlType.F32));
        Path half = NativeTestSupport.writeLora(dir, new LoraSpec("half", 8, 16f, all, 4, 1.5f, GgmlType.F16));
        Path c = NativeTestSupport.writeLora(dir, new LoraSpec("c", 2, 4f,
                EnumSet.of(LoraTarget.Q, LoraTarget.K, LoraTarget.V, LoraTarget.O), 3, 1.5f, GgmlType.F32));
        // rank 4, alpha 6, user scale 0.9: a folded scale of 1.35, not a power of two, so B rounds when packed
        Path half2 = NativeTestSupport.writeLora(dir, new LoraSpec("half2", 4, 6f, allPlusEnds, 5, 1.5f, GgmlType.F16));
        List<AdapterSpec> specs = List.of(new AdapterSpec("a", a, 1f), new AdapterSpec("b", b, 0.8f),
                new AdapterSpec("c", c, 1.5f), new AdapterSpec("half", half, 1f));
        model = Model.load(modelPath, NativeTestSupport.modelParams());
        vocab = model.tokenizer().vocabSize();
        if (NativeTestSupport.gpuLayers() != 0) {
            cpuModel = Model.load(modelPath, ModelParams.defaults());
        }
        mixed = setup(specs);
        halves = setup(List.of(new AdapterSpec("half", half, 1f), new AdapterSpec("half2", half2, 0.9f)));
    }

    private static Setup setup(List<AdapterSpec> specs) {
        AdapterSet own = AdapterSet.load(model, specs);
        loadedSets.add(own);
        Loaded onDevice = new Loaded(model, own);
        if (cpuModel == null) {
            return new Setup(onDevice, onDevice);
        }
        AdapterSet cpu = AdapterSet.load(cpuModel, specs);
        loadedSets.add(cpu);
        return new Setup(onDevice, new Loaded(cpuModel, cpu));
    }

    @AfterAll
    static void close() {
        loadedSets.forEach(AdapterSet::close);
        model.close();
        if (cpuModel != null) {
            cpuModel.close();
        }
    }

    @Test
    void switchingEveryTokenEqualsSegmentedStock() {
        Random rnd = new Random(11);
        List<int[]> tokens = List.of(randomTokens(rnd, 40), randomTokens(rnd, 33), randomTokens(rnd, 27));
        compare(mixed, tokens, randomRoutes(rnd, tokens, 3), 64, 16, TOLERANCE);  // NONE, a, b or c (the F32 ones)
    }

    @Test
    void longRunsAndNoAdapterEqualSegmentedStock() {
        Random rnd = new Random(12);
        List<int[]> tokens = List.of(randomTokens(rnd, 50), randomTokens(rnd, 50));
        int[] runs = new int[50];
        for (int i = 0; i < runs.length; i++) {
            runs[i] = i < 20 ? 0 : i < 35 ? RouteTable.NONE : 2;
        }
        int[] none = new int[50];
        Arrays.fill(none, RouteTable.NONE);
        compare(mixed, tokens, List.of(runs, none), 32, 8, TOLERANCE);
    }

    @Test
    void constantRouteEqualsStockWithThatAdapter() {
        int[] t = randomTokens(new Random(13), 24);
        float[][] routed = routed(mixed, List.of(t), new FixedRouter(1, 1f), 24, 24).get(0);
        float[][] stock = checkAgainstOracle(mixed, routed, r -> stock(r, t, List.of(1), new float[] {0.8f}), TOLERANCE,
                "constant route to b").expected();
        // The comparison means something only if the adapter moves the logits well beyond the tolerance.
        float[][] base = stock(mixed.exact(), t, List.of(), new float[0]);
        float effect = 0;
        for (int i = 0; i < t.length; i++) {
            for (int v = 0; v < vocab; v++) {
                effect = Math.max(effect, Math.abs(base[i][v] - stock[i][v]));
            }
        }
        assertTrue(effect > 0.1f, "adapter b barely changes the logits (" + effect + ")");
    }

    @Test
    void constantRouteToAnF16AdapterEqualsStockWithinF16Rounding() {
        int[] t = randomTokens(new Random(15), 24);
        float[][] routed = routed(mixed, List.of(t), new FixedRouter(3, 1f), 24, 24).get(0);
        checkAgainstOracle(mixed, routed, r -> stock(r, t, List.of(3), new float[] {1f}), TOLERANCE_F16,
                "constant route to the F16 adapter");
    }

    @Test
    void allF16AdaptersSwitchingEveryTokenEqualSegmentedStock() {
        // both adapters F16: the routed copies are F16, rounded as stock rounds its F16 products
        Random rnd = new Random(16);
        List<int[]> tokens = List.of(randomTokens(rnd, 37), randomTokens(rnd, 29));
        compare(halves, tokens, randomRoutes(rnd, tokens, 2), 32, 8, TOLERANCE_F16_COPIES);  // NONE, half or half2
    }

    @Test
    void constantRouteInAnAllF16SetWithAPowerOfTwoScaleEqualsStockExactly() {
        int[] t = randomTokens(new Random(17), 24);
        float[][] routed = routed(halves, List.of(t), new FixedRouter(0, 1f), 24, 24).get(0);
        checkAgainstOracle(halves, routed, r -> stock(r, t, List.of(0), new float[] {1f}), TOLERANCE,
                "constant route to half (F16 copies, scale 2)");
    }

    @Test
    void constantTopTwoMixEqualsStockWithBothAdaptersScaled() {
        int[] t = randomTokens(new Random(14), 24);
        Router mix = new FixedMixRouter(new int[] {0, 2}, new float[] {0.7f, 0.3f});
        float[][] routed = routed(mixed, List.of(t), mix, 24, 24).get(0);
        checkAgainstOracle(mixed, routed, r -> stock(r, t, List.of(0, 2), new float[] {0.7f * 1f, 0.3f * 1.5f}), TOLERANCE,
                "top-2 mix of a and c");
    }

    @Test
    void routesChangingEveryTokenKeepGraphReuseAndMatchSegmentedGreedyTokens() {
        int[] prompt = model.tokenizer().tokenize("Write code to solve this equation", true, false);
        int[] pattern = new int[prompt.length + 40];
        for (int i = 0; i < pattern.length; i++) {
            pattern[i] = i % 4 - 1;  // NONE, a, b, c, NONE, ...
        }
        Router router = TokenListRouter.of(pattern);
        int[] inGraph;
        int[] segmented;
        int reused;
        ContextParams params = ContextParams.defaults().withContextSize(256);
        AdapterSet adapters = mixed.onDevice().adapters();
        try (Context ctx = Context.create(model, params); Sampler s = new Sampler(SamplerParams.greedy());
             RoutedDecoder d = new RoutedDecoder(ctx, adapters.adapters(), adapters.scales(), router, true);
             Generator g = new Generator(ctx, s, 0, d)) {
            inGraph = g.generate(prompt, 40, t -> { }).tokens();
            reused = ctx.perf().graphReuses();
        }
        try (Context ctx = Context.create(model, params); Sampler s = new Sampler(SamplerParams.greedy());
             RoutedDecoder d = new RoutedDecoder(ctx, adapters.adapters(), adapters.scales(), router, false);
             Generator g = new Generator(ctx, s, 0, d)) {
            segmented = g.generate(prompt, 40, t -> { }).tokens();
        }
        if (!mixed.offloaded()) {
            assertArrayEquals(segmented, inGraph, "greedy tokens differ between in-graph and segmented routing");
        } else {
            // offloaded, a near-tie may break either way: every token the in-graph path picked must be a greedy
            // choice of the oracle on the CPU (teacher-forced over the same tokens) within the tolerance
            int[] all = new int[prompt.length + inGraph.length];
            System.arraycopy(prompt, 0, all, 0, prompt.length);
            System.arraycopy(inGraph, 0, all, prompt.length, inGraph.length);
            int[] routes = Arrays.copyOf(pattern, all.length);
            float[][] oracle = segmentedStock(mixed.exact(), all, routes);
            float allowed = Math.max(TOLERANCE, FLOOR_FACTOR * relDiff(oracle, segmentedStock(mixed.onDevice(), all, routes)))
                    * maxAbs(oracle);
            for (int i = 0; i < inGraph.length; i++) {
                float[] l = oracle[prompt.length - 1 + i];
                float max = l[argmax(l)];
                assertTrue(l[inGraph[i]] >= max - 2 * allowed, "generated token " + i + " (" + inGraph[i]
                        + ") is not a greedy choice of the oracle: " + l[inGraph[i]] + " vs max " + max);
            }
        }
        // 39 single-token decodes after the first: every one should reuse the previous graph.
        assertTrue(reused >= 35, "graph reused only " + reused + " times: route changes rebuild the graph");
    }

    // ---- the two paths ----

    private static void compare(Setup on, List<int[]> tokens, List<int[]> routes, int nBatch, int nUbatch,
            float tolerance) {
        Map<Integer, int[]> bySeq = new HashMap<>();
        for (int s = 0; s < routes.size(); s++) {
            bySeq.put(s, routes.get(s));
        }
        List<float[][]> routed = routed(on, tokens, new TokenListRouter(bySeq), nBatch, nUbatch);
        if (on.offloaded()) {
            // the segmented oracle decodes short runs, the routed path whole ubatches, and a GPU picks its kernels
            // by batch shape: the floor also covers stock llama.cpp decoding these very batches (adapter b fixed)
            List<float[][]> gpu = interleaved(on.onDevice(), tokens, nBatch, nUbatch, 1);
            List<float[][]> cpu = interleaved(on.exact(), tokens, nBatch, nUbatch, 1);
            for (int s = 0; s < tokens.size(); s++) {
                tolerance = Math.max(tolerance, FLOOR_FACTOR * relDiff(cpu.get(s), gpu.get(s)));
            }
        }
        float used = 0;
        float[][] firstOracle = null;
        for (int s = 0; s < tokens.size(); s++) {
            int seq = s;
            Checked checked = checkAgainstOracle(on, routed.get(s),
                    r -> segmentedStock(r, tokens.get(seq), routes.get(seq)), tolerance, "sequence " + s);
            used = Math.max(used, checked.tolerance());
            firstOracle = s == 0 ? checked.expected() : firstOracle;
        }
        // the check must be able to fail: the same sequence with its routes shifted by one token differs by more
        int[] shifted = new int[routes.get(0).length];
        for (int i = 0; i < shifted.length; i++) {
            shifted[i] = routes.get(0)[(i + 1) % shifted.length];
        }
        float misrouted = relDiff(firstOracle, segmentedStock(on.exact(), tokens.get(0), shifted));
        assertTrue(misrouted > 2 * used, "tolerance " + used + " would hide misrouted tokens (" + misrouted + ")");
    }

    /** Stock llama.cpp with adapter {@code id} fixed, decoding the same interleaved batches as {@link #routed}. */
    private static List<float[][]> interleaved(Loaded on, List<int[]> tokens, int nBatch, int nUbatch, int id) {
        return decodeInterleaved(on.model(), tokens, nBatch, nUbatch, ctx -> {
            ctx.setAdapters(List.of(on.adapters().adapters().get(id)), new float[] {on.adapters().scales()[id]});
            return Decoder.plain(ctx);
        });
    }

    /** All sequences interleaved in batches of nBatch (so ubatches split and mix them), every token an output. */
    private static List<float[][]> routed(Setup on, List<int[]> tokens, Router router, int nBatch, int nUbatch) {
        AdapterSet set = on.onDevice().adapters();
        return decodeInterleaved(model, tokens, nBatch, nUbatch,
                ctx -> new RoutedDecoder(ctx, set.adapters(), set.scales(), router, true));
    }

    private static List<float[][]> decodeInterleaved(Model on, List<int[]> tokens, int nBatch, int nUbatch,
            Function<Context, Decoder> decoderFor) {
        int total = tokens.stream().mapToInt(t -> t.length).sum();
        List<float[][]> logits = new ArrayList<>();
        tokens.forEach(t -> logits.add(new float[t.length][]));
        ContextParams params = ContextParams.defaults().withContextSize(256).withBatch(nBatch, nUbatch)
                .withMaxSequences(tokens.size());
        try (Context ctx = Context.create(on, params); Batch batch = new Batch(nBatch)) {
            Decoder decoder = decoderFor.apply(ctx);
            int[] next = new int[tokens.size()];
            int done = 0;
            while (done < total) {
                batch.clear();
                List<int[]> where = new ArrayList<>();
                // round-robin over sequences: neighbours in the batch belong to different sequences
                while (batch.size() < nBatch && done + batch.size() < total) {
                    for (int s = 0; s < tokens.size() && batch.size() < nBatch; s++) {
                        if (next[s] < tokens.get(s).length) {
                            batch.add(tokens.get(s)[next[s]], next[s], s, true);
                            where.add(new int[] {s, next[s]});
                            next[s]++;
                        }
                    }
                }
                decoder.decode(batch);
                for (int i = 0; i < where.size(); i++) {
                    logits.get(where.get(i)[0])[where.get(i)[1]] = ctx.logits(i);
                }
                done += where.size();
            }
        }
        return logits;
    }

    /** The oracle: one sequence, each maximal same-route run decoded with that adapter set globally (stock API). */
    private static float[][] segmentedStock(Loaded on, int[] tokens, int[] routes) {
        float[][] logits = new float[tokens.length][];
        float[] scales = on.adapters().scales();
        try (Context ctx = Context.create(on.model(), ContextParams.defaults().withContextSize(256));
             Batch batch = new Batch(tokens.length)) {
            int start = 0;
            while (start < tokens.length) {
                int end = start;
                while (end < tokens.length && routes[end] == routes[start]) {
                    end++;
                }
                int a = routes[start];
                if (a == RouteTable.NONE) {
                    ctx.setAdapters(List.of(), new float[0]);
                } else {
                    ctx.setAdapters(List.of(on.adapters().adapters().get(a)), new float[] {scales[a]});
                }
                batch.clear();
                for (int i = start; i < end; i++) {
                    batch.add(tokens[i], i, 0, true);
                }
                ctx.decode(batch);
                for (int i = start; i < end; i++) {
                    logits[i] = ctx.logits(i - start);
                }
                start = end;
            }
        }
        return logits;
    }

    /** Stock llama.cpp with a fixed global adapter set. */
    private static float[][] stock(Loaded on, int[] tokens, List<Integer> ids, float[] scales) {
        float[][] logits = new float[tokens.length][];
        List<LoraAdapter> set = ids.stream().map(i -> on.adapters().adapters().get(i)).toList();
        try (Context ctx = Context.create(on.model(), ContextParams.defaults().withContextSize(256));
             Batch batch = new Batch(tokens.length)) {
            ctx.setAdapters(set, scales);
            for (int i = 0; i < tokens.length; i++) {
                batch.add(tokens[i], i, 0, true);
            }
            ctx.decode(batch);
            for (int i = 0; i < tokens.length; i++) {
                logits[i] = ctx.logits(i);
            }
        }
        return logits;
    }

    // ---- checks ----

    /** The oracle's logits on the exact reference, and the tolerance a check held them to. */
    private record Checked(float[][] expected, float tolerance) {}

    /**
     * Routed logits against the oracle run on the exact reference; offloaded, the tolerance is at least FLOOR_FACTOR x
     * the floor (how far the same oracle on the GPU is from the CPU).
     */
    private static Checked checkAgainstOracle(Setup on, float[][] routed, Function<Loaded, float[][]> oracle,
            float tolerance, String what) {
        float[][] expected = oracle.apply(on.exact());
        if (on.offloaded()) {
            float floor = relDiff(expected, oracle.apply(on.onDevice()));
            tolerance = Math.max(tolerance, FLOOR_FACTOR * floor);
            what += " (stock on the GPU is " + floor + " of the logit range from the CPU)";
        }
        assertClose(expected, routed, tolerance, what);
        return new Checked(expected, tolerance);
    }

    private static float maxAbs(float[][] x) {
        float m = 0;
        for (float[] row : x) {
            for (float v : row) {
                m = Math.max(m, Math.abs(v));
            }
        }
        return m;
    }

    /** Max |logit difference| relative to the largest |expected logit|. */
    private static float relDiff(float[][] expected, float[][] actual) {
        float worst = 0;
        for (int i = 0; i < expected.length; i++) {
            for (int v = 0; v < vocab; v++) {
                worst = Math.max(worst, Math.abs(expected[i][v] - actual[i][v]));
            }
        }
        return worst / maxAbs(expected);
    }

    /**
     * Logits within tolerance x the largest |logit|, and the same greedy token wherever the oracle's best two tokens
     * are further apart than twice that (closer, either is a correct greedy pick).
     */
    private static void assertClose(float[][] expected, float[][] actual, float tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": token count");
        float scale = maxAbs(expected);
        float worst = relDiff(expected, actual) * scale;
        for (int i = 0; i < expected.length; i++) {
            if (margin(expected[i]) > 2 * tolerance * scale) {
                assertEquals(argmax(expected[i]), argmax(actual[i]), what + ": greedy token differs at position " + i);
            }
        }
        assertTrue(worst <= tolerance * scale, what + ": max |logit difference| " + worst + " > " + tolerance
                + " x max |logit| " + scale);
    }

    /** Distance between the best and the second-best logit. */
    private static float margin(float[] x) {
        float first = Float.NEGATIVE_INFINITY;
        float second = Float.NEGATIVE_INFINITY;
        for (float v : x) {
            if (v > first) {
                second = first;
                first = v;
            } else if (v > second) {
                second = v;
            }
        }
        return first - second;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) {
            if (x[i] > x[best]) {
                best = i;
            }
        }
        return best;
    }

    /** For every token a route drawn from NONE and adapters 0 .. adapters-1. */
    private static List<int[]> randomRoutes(Random rnd, List<int[]> tokens, int adapters) {
        List<int[]> routes = new ArrayList<>();
        for (int[] t : tokens) {
            int[] r = new int[t.length];
            for (int i = 0; i < r.length; i++) {
                r[i] = rnd.nextInt(adapters + 1) - 1;
            }
            routes.add(r);
        }
        return routes;
    }

    private static int[] randomTokens(Random rnd, int n) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rnd.nextInt(vocab - 3);  // skip <unk>, <s>, </s>
        }
        return t;
    }
}
