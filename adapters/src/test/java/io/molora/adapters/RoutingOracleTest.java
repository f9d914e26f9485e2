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
     * Every context here but one is made with exact attention: flash attention off and an F32 KV cache. llama.cpp's
     * default (flash attention, F16 cache) rounds Q, K and V to F16 on the CPU, and that rounding turns the last-bit
     * differences between the routed and the stock path into differences of up to ~1e-3 of the logit range on these
     * random-weight models (measured on AVX-512; less on AVX2 by luck of the rounding). One test checks the default
     * setup, against a floor measured from the oracle itself ({@link #SENSITIVITY_FACTOR}).
     */
    private static final ContextParams EXACT = ContextParams.defaults().exactAttention();
    /**
     * Max |logit difference| relative to the largest |logit|, with exact attention. Not zero: the routed path sums
     * the same products in another order (zero-padded concatenated ranks, scale folded into B).
     */
    private static final float TOLERANCE = 1e-4f;
    /**
     * In llama.cpp's default setup the tolerance is this many times the oracle's own sensitivity: how far stock
     * llama.cpp's logits move when every adapter scale moves by one ulp (measured in the test, on this machine).
     */
    private static final float SENSITIVITY_FACTOR = 4f;
    /**
     * F16 adapters are compared against a floor measured from the oracle itself: how far stock llama.cpp's logits move
     * when the same adapters are stored in F32 instead (the F32 twins, same seeds: the unrounded values). The F16
     * paths round where stock rounds (activations to F16 before an F16 product on the CPU), but sum in another order
     * and, in an all-F16 set, fold the scale into the F16 B; each such last-bit difference can cross an F16 rounding
     * boundary. The routed path must stay within twice what F16 storage itself does to the logits. Measured with
     * exact attention on AVX-512: with F32 copies the routed path computes what stock computes with the F32 twin
     * (routed vs stock = 1.0x the floor), with F16 copies switching every token 1.3x; a route shifted by one token
     * is two orders of magnitude further.
     */
    private static final float F16_FACTOR = 2f;
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
    private record Setup(Loaded onDevice, Loaded exact, ContextParams params) {
        boolean offloaded() {
            return exact != onDevice;
        }

        /** The same models and adapters, with contexts made from {@code other}. */
        Setup with(ContextParams other) {
            return new Setup(onDevice, exact, other);
        }
    }

    /** a, b, c (F32) and half (F16): mixed types, so the routed copies are F32. */
    private static Setup mixed;
    /** half and half2, both F16: the routed copies are F16 too, as for adapters from convert_lora_to_gguf.py. */
    private static Setup halves;
    /** {@link #mixed} and {@link #halves} with every F16 adapter replaced by its F32 twin (for stock only). */
    private static Setup mixedTwins;
    private static Setup halvesTwins;
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
        Path half32 = NativeTestSupport.writeLora(dir, new LoraSpec("half-f32", 8, 16f, all, 4, 1.5f, GgmlType.F32));
        Path half2f32 = NativeTestSupport.writeLora(dir, new LoraSpec("half2-f32", 4, 6f, allPlusEnds, 5, 1.5f, GgmlType.F32));
        model = Model.load(modelPath, NativeTestSupport.modelParams());
        vocab = model.tokenizer().vocabSize();
        if (NativeTestSupport.gpuLayers() != 0) {
            cpuModel = Model.load(modelPath, ModelParams.defaults());
        }
        mixed = setup(specs);
        halves = setup(List.of(new AdapterSpec("half", half, 1f), new AdapterSpec("half2", half2, 0.9f)));
        mixedTwins = setup(List.of(specs.get(0), specs.get(1), specs.get(2), new AdapterSpec("half", half32, 1f)));
        halvesTwins = setup(List.of(new AdapterSpec("half", half32, 1f), new AdapterSpec("half2", half2f32, 0.9f)));
    }

    private static Setup setup(List<AdapterSpec> specs) {
        AdapterSet own = AdapterSet.load(model, specs);
        loadedSets.add(own);
        Loaded onDevice = new Loaded(model, own);
        if (cpuModel == null) {
            return new Setup(onDevice, onDevice, EXACT);
        }
        AdapterSet cpu = AdapterSet.load(cpuModel, specs);
        loadedSets.add(cpu);
        return new Setup(onDevice, new Loaded(cpuModel, cpu), EXACT);
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
        compare(mixed, longRunTokens(), longRunRoutes(), 32, 8, TOLERANCE);
    }

    private static List<int[]> longRunTokens() {
        Random rnd = new Random(12);
        return List.of(randomTokens(rnd, 50), randomTokens(rnd, 50));
    }

    /** Sequence 0: a for 20 tokens, no adapter for 15, c for 15; sequence 1: no adapter throughout. */
    private static List<int[]> longRunRoutes() {
        int[] runs = new int[50];
        for (int i = 0; i < runs.length; i++) {
            runs[i] = i < 20 ? 0 : i < 35 ? RouteTable.NONE : 2;
        }
        int[] none = new int[50];
        Arrays.fill(none, RouteTable.NONE);
        return List.of(runs, none);
    }

    @Test
    void longRunsAndNoAdapterEqualSegmentedStockInTheDefaultSetup() {
        // flash attention auto, F16 KV cache: what users get; the tolerance comes from the oracle's own sensitivity
        Setup defaults = mixed.with(ContextParams.defaults());
        List<int[]> tokens = longRunTokens();
        List<int[]> routes = longRunRoutes();
        float sensitivity = 0;
        for (int s = 0; s < tokens.size(); s++) {
            sensitivity = Math.max(sensitivity, scaleSensitivity(defaults, tokens.get(s), routes.get(s)));
        }
        compare(defaults, tokens, routes, 32, 8, Math.max(TOLERANCE, SENSITIVITY_FACTOR * sensitivity));
    }

    @Test
    void constantRouteEqualsStockWithThatAdapter() {
        int[] t = randomTokens(new Random(13), 24);
        float[][] routed = routed(mixed, List.of(t), new FixedRouter(1, 1f), 24, 24).get(0);
        float[][] stock = checkAgainstOracle(mixed, routed, r -> stock(r, mixed.params(), t, List.of(1), new float[] {0.8f}), TOLERANCE,
                "constant route to b").expected();
        // The comparison means something only if the adapter moves the logits well beyond the tolerance.
        float[][] base = stock(mixed.exact(), mixed.params(), t, List.of(), new float[0]);
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
        // F32 routed copies of an F16 adapter: the routed path multiplies in F32, stock rounds activations to F16
        int[] t = randomTokens(new Random(15), 24);
        float[][] routed = routed(mixed, List.of(t), new FixedRouter(3, 1f), 24, 24).get(0);
        Function<Setup, float[][]> oracle = on -> stock(on.exact(), on.params(), t, List.of(3), new float[] {1f});
        checkAgainstOracle(mixed, routed, r -> stock(r, mixed.params(), t, List.of(3), new float[] {1f}),
                f16Tolerance(oracle.apply(mixed), oracle.apply(mixedTwins)), "constant route to the F16 adapter");
    }

    @Test
    void allF16AdaptersSwitchingEveryTokenEqualSegmentedStock() {
        // both adapters F16: the routed copies are F16, rounded as stock rounds its F16 products
        Random rnd = new Random(16);
        List<int[]> tokens = List.of(randomTokens(rnd, 37), randomTokens(rnd, 29));
        List<int[]> routes = randomRoutes(rnd, tokens, 2);  // NONE, half or half2
        float tolerance = 0;
        for (int s = 0; s < tokens.size(); s++) {
            tolerance = Math.max(tolerance, f16Tolerance(
                    segmentedStock(halves.exact(), halves.params(), tokens.get(s), routes.get(s)),
                    segmentedStock(halvesTwins.exact(), halves.params(), tokens.get(s), routes.get(s))));
        }
        compare(halves, tokens, routes, 32, 8, tolerance);
    }

    @Test
    void constantRouteInAnAllF16SetEqualsStockWithinF16Rounding() {
        int[] t = randomTokens(new Random(17), 24);
        float[][] routed = routed(halves, List.of(t), new FixedRouter(0, 1f), 24, 24).get(0);
        Function<Setup, float[][]> oracle = on -> stock(on.exact(), on.params(), t, List.of(0), new float[] {1f});
        checkAgainstOracle(halves, routed, r -> stock(r, halves.params(), t, List.of(0), new float[] {1f}),
                f16Tolerance(oracle.apply(halves), oracle.apply(halvesTwins)), "constant route to half (F16 copies)");
    }

    /**
     * The tolerance for F16 adapters: {@link #F16_FACTOR} x how far stock's logits with the F16 adapters are from
     * stock's with their F32 twins, and never below {@link #TOLERANCE}.
     */
    private static float f16Tolerance(float[][] stockF16, float[][] stockF32Twins) {
        float floor = relDiff(stockF16, stockF32Twins);
        return Math.max(TOLERANCE, F16_FACTOR * floor);
    }

    @Test
    void constantTopTwoMixEqualsStockWithBothAdaptersScaled() {
        int[] t = randomTokens(new Random(14), 24);
        Router mix = new FixedMixRouter(new int[] {0, 2}, new float[] {0.7f, 0.3f});
        float[][] routed = routed(mixed, List.of(t), mix, 24, 24).get(0);
        checkAgainstOracle(mixed, routed, r -> stock(r, mixed.params(), t, List.of(0, 2), new float[] {0.7f * 1f, 0.3f * 1.5f}), TOLERANCE,
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
        ContextParams params = mixed.params().withContextSize(256);
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
            float[][] oracle = segmentedStock(mixed.exact(), params, all, routes);
            float allowed = Math.max(TOLERANCE, FLOOR_FACTOR * relDiff(oracle, segmentedStock(mixed.onDevice(), params, all, routes)))
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
            List<float[][]> gpu = interleaved(on.onDevice(), on.params(), tokens, nBatch, nUbatch, 1);
            List<float[][]> cpu = interleaved(on.exact(), on.params(), tokens, nBatch, nUbatch, 1);
            for (int s = 0; s < tokens.size(); s++) {
                tolerance = Math.max(tolerance, FLOOR_FACTOR * relDiff(cpu.get(s), gpu.get(s)));
            }
        }
        float used = 0;
        float[][] firstOracle = null;
        for (int s = 0; s < tokens.size(); s++) {
            int seq = s;
            Checked checked = checkAgainstOracle(on, routed.get(s),
                    r -> segmentedStock(r, on.params(), tokens.get(seq), routes.get(seq)), tolerance, "sequence " + s);
            used = Math.max(used, checked.tolerance());
            firstOracle = s == 0 ? checked.expected() : firstOracle;
        }
        // the check must be able to fail: the same sequence with its routes shifted by one token differs by more
        int[] shifted = new int[routes.get(0).length];
        for (int i = 0; i < shifted.length; i++) {
            shifted[i] = routes.get(0)[(i + 1) % shifted.length];
        }
        float misrouted = relDiff(firstOracle, segmentedStock(on.exact(), on.params(), tokens.get(0), shifted));
        assertTrue(misrouted > 2 * used, "tolerance " + used + " would hide misrouted tokens (" + misrouted + ")");
    }

    /** Stock llama.cpp with adapter {@code id} fixed, decoding the same interleaved batches as {@link #routed}. */
    private static List<float[][]> interleaved(Loaded on, ContextParams base, List<int[]> tokens, int nBatch,
            int nUbatch, int id) {
        return decodeInterleaved(on.model(), base, tokens, nBatch, nUbatch, ctx -> {
            ctx.setAdapters(List.of(on.adapters().adapters().get(id)), new float[] {on.adapters().scales()[id]});
            return Decoder.plain(ctx);
        });
    }

    /** All sequences interleaved in batches of nBatch (so ubatches split and mix them), every token an output. */
    private static List<float[][]> routed(Setup on, List<int[]> tokens, Router router, int nBatch, int nUbatch) {
        AdapterSet set = on.onDevice().adapters();
        return decodeInterleaved(model, on.params(), tokens, nBatch, nUbatch,
                ctx -> new RoutedDecoder(ctx, set.adapters(), set.scales(), router, true));
    }

    private static List<float[][]> decodeInterleaved(Model on, ContextParams base, List<int[]> tokens, int nBatch,
            int nUbatch, Function<Context, Decoder> decoderFor) {
        int total = tokens.stream().mapToInt(t -> t.length).sum();
        List<float[][]> logits = new ArrayList<>();
        tokens.forEach(t -> logits.add(new float[t.length][]));
        ContextParams params = base.withContextSize(256).withBatch(nBatch, nUbatch).withMaxSequences(tokens.size());
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
    private static float[][] segmentedStock(Loaded on, ContextParams base, int[] tokens, int[] routes) {
        return segmentedStock(on, base, tokens, routes, on.adapters().scales());
    }

    private static float[][] segmentedStock(Loaded on, ContextParams base, int[] tokens, int[] routes, float[] scales) {
        float[][] logits = new float[tokens.length][];
        try (Context ctx = Context.create(on.model(), base.withContextSize(256));
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

    /**
     * How far the segmented oracle's logits move (relative to their range) when every adapter scale moves one ulp up
     * or down: the size of a last-bit change to the adapters' contribution after this setup's rounding.
     */
    private static float scaleSensitivity(Setup on, int[] tokens, int[] routes) {
        float[] scales = on.exact().adapters().scales();
        float[] up = new float[scales.length];
        float[] down = new float[scales.length];
        for (int i = 0; i < scales.length; i++) {
            up[i] = Math.nextUp(scales[i]);
            down[i] = Math.nextDown(scales[i]);
        }
        float[][] oracle = segmentedStock(on.exact(), on.params(), tokens, routes, scales);
        return Math.max(relDiff(oracle, segmentedStock(on.exact(), on.params(), tokens, routes, up)),
                relDiff(oracle, segmentedStock(on.exact(), on.params(), tokens, routes, down)));
    }

    /** Stock llama.cpp with a fixed global adapter set. */
    private static float[][] stock(Loaded on, ContextParams base, int[] tokens, List<Integer> ids, float[] scales) {
        float[][] logits = new float[tokens.length][];
        List<LoraAdapter> set = ids.stream().map(i -> on.adapters().adapters().get(i)).toList();
        try (Context ctx = Context.create(on.model(), base.withContextSize(256));
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
