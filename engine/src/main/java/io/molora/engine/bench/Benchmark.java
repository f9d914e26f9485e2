package io.molora.engine.bench;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.routers.FixedMixRouter;
import io.molora.adapters.routers.PerSequenceRouter;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.RouterSpec;
import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.Sampler;
import io.molora.runtime.SamplerParams;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;

/**
 * Per-token routing against stock llama.cpp adapter handling, all in one run so that the ratios compare like with
 * like: single-token generation after a short prompt (greedy), one long prefill, and several sequences decoded
 * together. Each scenario is a plain decode loop over the runtime, the same loop as the C++ reference's, so that what
 * is measured is the adapters' cost and not the application's. The model and adapters are opened through
 * {@link Engine#open} (validated, fit-checked).
 */
public final class Benchmark {
    public static final String GEN_BASE = "gen: no adapter";
    public static final String GEN_FIXED = "gen: one adapter fixed (stock)";
    public static final String GEN_ROUTED = "gen: routed top-1, switching every token";
    public static final String GEN_MIX = "gen: routed top-2 soft mix";
    // routing on, the routes needing fewer than all adapters: what each token uses is all it pays for (patch 0010)
    public static final String GEN_ROUTED_NONE = "gen: routing on, no token routed";
    public static final String GEN_ROUTED_ONE = "gen: routing on, every token to one adapter";
    public static final String GEN_STOCK_SWITCHING = "gen: stock API, switching every token";
    public static final String GEN_GATE = "gen: learned gate deciding every token";
    public static final String GEN_GATE_REPLAY = "gen: the gate's routes given in advance";
    public static final String PREFILL_BASE = "prefill: no adapter";
    public static final String PREFILL_FIXED = "prefill: one adapter fixed (stock)";
    public static final String PREFILL_ROUTED = "prefill: routed, switching every token";
    public static final String PREFILL_ROUTED_ONE = "prefill: routing on, every token to one adapter";
    public static final String PREFILL_STOCK_SWITCHING = "prefill: stock API, switching every token";
    public static final String PREFILL_PER_ADAPTER = "prefill: per-sequence K*N (prompt once per adapter)";
    private static final String NATIVE_BASE = "no adapter";
    private static final String NATIVE_FIXED = "one adapter fixed (stock)";

    private final BenchSettings s;
    private final BenchListener listener;
    private final Map<String, Double> results = new LinkedHashMap<>();

    private Benchmark(BenchSettings settings, BenchListener listener) {
        this.s = settings;
        this.listener = listener;
    }

    /** Runs every scenario on {@code fixture}'s files, reporting each row to {@code listener} as it finishes. */
    public static BenchReport run(BenchSettings settings, BenchFixture fixture, BenchListener listener)
            throws IOException {
        return new Benchmark(settings, listener).runAll(fixture);
    }

    private BenchReport runAll(BenchFixture fixture) throws IOException {
        EngineSpec spec = EngineSpec.of(fixture.model())
                .withModelParams(ModelParams.defaults().withGpuLayers(s.gpuLayers()))
                .withContextParams(contextParams(s.parallel()))
                .withAdapters(fixture.adapters(), new RouterSpec.Base())
                .withRoutingForm(s.routingForm());
        try (Engine engine = Engine.open(spec)) {
            scenarios(engine.model(), engine.adapters().orElseThrow());
        }
        if (s.nativeReference()) {
            Optional<NativeReference> loop = NativeReference.find();
            if (loop.isPresent()) {
                record(loop.get().run(s, fixture.model(), null, NATIVE_BASE));
                record(loop.get().run(s, fixture.model(), fixture.adapters().get(0).path(), NATIVE_FIXED));
            } else {
                listener.note("no native reference: " + NativeReference.executable() + " is missing; run "
                        + "native-build/build.sh");
            }
        }
        List<BenchRow> rows = results.entrySet().stream().map(e -> new BenchRow(e.getKey(), e.getValue())).toList();
        return new BenchReport(rows, ratios());
    }

    private void scenarios(Model model, AdapterSet set) throws IOException {
        Router cycle = cyclingRouter();
        // untimed warm-up: the JIT compiles the decode loop's Java code first (on a small machine its compiler threads
        // would otherwise share the cores with the first timed scenario), as the C++ loop needs no such thing
        generation(model, set, null, false);
        generation(model, set, cycle, true);

        measure(GEN_BASE, () -> generation(model, set, null, false));
        measure(GEN_FIXED, () -> generationStockFixed(model, set));
        measure(GEN_ROUTED, () -> generation(model, set, cycle, true));
        measure(GEN_MIX, () -> generation(model, set,
                new FixedMixRouter(new int[] {0, Math.min(1, s.adapters() - 1)}, new float[] {0.6f, 0.4f}), true));
        measure(GEN_ROUTED_NONE, () -> generation(model, set, (batch, routes) -> { }, true));
        measure(GEN_ROUTED_ONE, () -> generation(model, set, constantRouter(), true));
        measure(GEN_STOCK_SWITCHING, () -> generation(model, set, cycle, false));
        try (GateScenarios gate = new GateScenarios(model, s.adapters())) {
            measure(GEN_GATE, () -> generation(model, set, gate.learned(), true));
            measure(GEN_GATE_REPLAY, () -> generation(model, set, gate.replay(), true));
        }

        int prefillRuns = s.prefillRepeat();
        measure(PREFILL_BASE, prefillRuns, () -> prefill(model, set, null, true));
        measure(PREFILL_FIXED, prefillRuns, () -> prefillStockFixed(model, set));
        measure(PREFILL_ROUTED, prefillRuns, () -> prefill(model, set, cycle, true));
        measure(PREFILL_ROUTED_ONE, prefillRuns, () -> prefill(model, set, constantRouter(), true));
        if (s.segmentedPrefill()) {
            measure(PREFILL_STOCK_SWITCHING, s.repeat(), () -> prefill(model, set, cycle, false));
        }
        measure(PREFILL_PER_ADAPTER, prefillRuns, () -> prefillPerAdapter(model, set));

        measure(batchFixed(), () -> parallelGeneration(model, set, false));
        measure(batchRouted(), () -> parallelGeneration(model, set, true));
    }

    private String batchFixed() {
        return "batch " + s.parallel() + ": one adapter (stock)";
    }

    private String batchRouted() {
        return "batch " + s.parallel() + ": " + Math.min(s.adapters(), s.parallel()) + " adapters, routed per sequence";
    }

    /** Route of a token = its position modulo K: the route changes at every token. */
    private Router cyclingRouter() {
        int k = s.adapters();
        return (batch, routes) -> {
            for (int i = 0, n = batch.size(); i < n; i++) {
                routes.set(i, batch.position(i) % k, 1f);
            }
        };
    }

    /** Every token to the first adapter, through the routed path (a request for one adapter beside others). */
    private static Router constantRouter() {
        return (batch, routes) -> {
            for (int i = 0, n = batch.size(); i < n; i++) {
                routes.set(i, 0, 1f);
            }
        };
    }

    // ---- scenarios: each returns tokens per second ----

    private double generation(Model model, AdapterSet set, Router router, boolean inGraph) {
        try (Context ctx = Context.create(model, contextParams(1));
             RoutedDecoder routed = router == null ? null
                     : new RoutedDecoder(ctx, set.adapters(), set.scales(), router, s.routingForm(), inGraph)) {
            return generate(ctx, routed == null ? Decoder.plain(ctx) : routed);
        }
    }

    private double generationStockFixed(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, contextParams(1))) {
            ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
            return generate(ctx, Decoder.plain(ctx));
        }
    }

    /** The prompt, then {@code gen} single-token decodes with greedy sampling; tok/s of the generation part. */
    private double generate(Context ctx, Decoder decoder) {
        int[] prompt = randomTokens(s.prompt(), ctx.vocabSize(), 1);
        try (Batch batch = new Batch(prompt.length); Sampler greedy = new Sampler(SamplerParams.greedy())) {
            for (int i = 0; i < prompt.length; i++) {
                batch.add(prompt[i], i, 0, i == prompt.length - 1);
            }
            decoder.decode(batch);
            long t0 = System.nanoTime();
            int pos = prompt.length;
            for (int i = 0; i < s.gen(); i++) {
                int token = greedy.sample(ctx, -1);
                batch.clear();
                batch.add(token, pos++, 0, true);
                decoder.decode(batch);
            }
            return s.gen() / seconds(t0);
        }
    }

    private double prefill(Model model, AdapterSet set, Router router, boolean inGraph) {
        try (Context ctx = Context.create(model, prefillParams());
             RoutedDecoder routed = router == null ? null
                     : new RoutedDecoder(ctx, set.adapters(), set.scales(), router, s.routingForm(), inGraph)) {
            // the segmented fallback needs no warm-up: its graph rebuilds dominate
            return prefillOnce(ctx, routed == null ? Decoder.plain(ctx) : routed, inGraph);
        }
    }

    private double prefillStockFixed(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, prefillParams())) {
            ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
            return prefillOnce(ctx, Decoder.plain(ctx), true);
        }
    }

    /** What routing per sequence costs without in-graph routing: the prompt once per adapter (K·N work). */
    private double prefillPerAdapter(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, prefillParams())) {
            prefillOnce(ctx, Decoder.plain(ctx), false);  // warm-up, as the other prefill scenarios have
            long t0 = System.nanoTime();
            for (int a = 0; a < s.adapters(); a++) {
                ctx.setAdapters(List.of(set.adapters().get(a)), new float[] {1f});
                ctx.clearMemory();
                prefillOnce(ctx, Decoder.plain(ctx), false);
            }
            return s.prefill() / seconds(t0);
        }
    }

    /**
     * One timed prompt of {@code prefill} tokens; with {@code warmUp} the same prompt is decoded once before (and the
     * memory cleared), so that one-time costs of a fresh context (lazy kernel loading, first allocations on a GPU)
     * are not timed. The C++ reference loop does the same.
     */
    private double prefillOnce(Context ctx, Decoder decoder, boolean warmUp) {
        int[] tokens = randomTokens(s.prefill(), ctx.vocabSize(), 2);
        try (Batch batch = new Batch(tokens.length)) {
            for (int i = 0; i < tokens.length; i++) {
                batch.add(tokens[i], i, 0, i == tokens.length - 1);
            }
            if (warmUp) {
                decoder.decode(batch);
                ctx.logits(-1);
                ctx.clearMemory();
            }
            long t0 = System.nanoTime();
            decoder.decode(batch);
            ctx.logits(-1);  // synchronises with the backend
            return s.prefill() / seconds(t0);
        }
    }

    /**
     * {@code parallel} sequences decoded together, one token each per decode; total generated tok/s. With
     * {@code distinctAdapters} sequence i is routed to adapter i mod K, else stock llama.cpp applies adapter 0 to all.
     */
    private double parallelGeneration(Model model, AdapterSet set, boolean distinctAdapters) {
        int parallel = s.parallel();
        int promptTokens = s.prompt();
        Map<Integer, Integer> bySeq = new LinkedHashMap<>();
        for (int seq = 0; seq < parallel; seq++) {
            bySeq.put(seq, seq % s.adapters());
        }
        try (Context ctx = Context.create(model, contextParams(parallel));
             RoutedDecoder routed = distinctAdapters ? new RoutedDecoder(ctx, set.adapters(), set.scales(),
                     new PerSequenceRouter(bySeq), s.routingForm(), true) : null;
             Batch batch = new Batch(Math.max(parallel * promptTokens, parallel))) {
            Decoder decoder = routed;
            if (routed == null) {
                ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
                decoder = Decoder.plain(ctx);
            }
            Random rnd = new Random(3);
            for (int seq = 0; seq < parallel; seq++) {
                for (int i = 0; i < promptTokens; i++) {
                    batch.add(3 + rnd.nextInt(ctx.vocabSize() - 3), i, seq, i == promptTokens - 1);
                }
            }
            decoder.decode(batch);
            long t0 = System.nanoTime();
            for (int step = 0; step < s.gen(); step++) {
                batch.clear();
                for (int seq = 0; seq < parallel; seq++) {
                    // argmax of each sequence's logits, as greedy sampling would pick
                    int token = argmax(ctx.logitsView(step == 0 ? (seq + 1) * promptTokens - 1 : seq));
                    batch.add(token, promptTokens + step, seq, true);
                }
                decoder.decode(batch);
            }
            return (double) s.gen() * parallel / seconds(t0);
        }
    }

    // ---- measurement and ratios ----

    private interface Scenario {
        double run() throws IOException;
    }

    private void measure(String name, Scenario run) throws IOException {
        measure(name, s.repeat(), run);
    }

    private void measure(String name, int runs, Scenario run) throws IOException {
        double best = 0;
        for (int i = 0; i < runs; i++) {
            best = Math.max(best, run.run());
        }
        record(List.of(new BenchRow(name, best)));
    }

    private void record(List<BenchRow> rows) {
        for (BenchRow r : rows) {
            results.put(r.name(), r.tokensPerSecond());
            listener.row(r);
        }
    }

    /** The ratios the benchmark exists for, with their targets; those whose scenarios did not run are left out. */
    private List<BenchRatio> ratios() {
        List<BenchRatio> out = new ArrayList<>();
        ratio(out, GEN_ROUTED, GEN_FIXED, ">= 0.90");
        ratio(out, GEN_ROUTED, GEN_BASE, "stretch >= 0.85");
        ratio(out, GEN_ROUTED, GEN_STOCK_SWITCHING, "");
        ratio(out, GEN_MIX, GEN_FIXED, "");
        ratio(out, GEN_ROUTED_NONE, GEN_BASE, ">= 0.95");
        ratio(out, GEN_ROUTED_ONE, GEN_FIXED, ">= 0.95");
        ratio(out, GEN_GATE, GEN_GATE_REPLAY, ">= 0.90");
        ratio(out, PREFILL_ROUTED, PREFILL_FIXED, ">= 0.90");
        ratio(out, PREFILL_ROUTED, PREFILL_PER_ADAPTER, ">= 3");
        ratio(out, PREFILL_ROUTED, PREFILL_STOCK_SWITCHING, "");
        ratio(out, PREFILL_ROUTED_ONE, PREFILL_FIXED, ">= 0.95");
        ratio(out, GEN_BASE, "native gen: " + NATIVE_BASE, "Java/C++ >= 0.97");
        ratio(out, GEN_FIXED, "native gen: " + NATIVE_FIXED, "Java/C++ >= 0.97");
        ratio(out, PREFILL_BASE, "native prefill: " + NATIVE_BASE, "Java/C++ >= 0.97");
        ratio(out, PREFILL_FIXED, "native prefill: " + NATIVE_FIXED, "Java/C++ >= 0.97");
        ratio(out, batchRouted(), batchFixed(), ">= 0.85");
        return out;
    }

    private void ratio(List<BenchRatio> out, String a, String b, String target) {
        if (results.containsKey(a) && results.containsKey(b)) {
            out.add(new BenchRatio(a, b, results.get(a) / results.get(b), target));
        }
    }

    // ---- contexts and inputs ----

    private ContextParams contextParams(int sequences) {
        int ctx = (s.prompt() + s.gen() + 8) * sequences;
        return ContextParams.defaults().withContextSize(ctx).withBatch(Math.max(512, sequences * s.prompt()), 512)
                .withMaxSequences(sequences).withThreads(s.threads(), s.threads());
    }

    private ContextParams prefillParams() {
        return ContextParams.defaults().withContextSize(s.prefill() + 8).withBatch(s.prefill(), Math.min(s.prefill(), 512))
                .withThreads(s.threads(), s.threads());
    }

    private static double seconds(long t0) {
        return (System.nanoTime() - t0) / 1e9;
    }

    private static int[] randomTokens(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rnd.nextInt(vocab - 3);
        }
        return t;
    }

    private static int argmax(MemorySegment logits) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0, n = (int) (logits.byteSize() / Float.BYTES); i < n; i++) {
            float v = logits.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }
}
