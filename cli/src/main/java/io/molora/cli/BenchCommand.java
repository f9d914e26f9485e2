package io.molora.cli;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.routers.FixedMixRouter;
import io.molora.adapters.routers.PerSequenceRouter;
import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.gguf.synth.SyntheticLora;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.Backend;
import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.RoutingForm;
import io.molora.runtime.Sampler;
import io.molora.runtime.SamplerParams;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Measures per-token routing against stock llama.cpp behaviour on a synthetic model and K synthetic adapters it
 * writes itself, all in one run so that the ratios compare like with like. Generation: single-token decodes (with
 * greedy sampling) after a short prompt; prefill: one long prompt.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark routed adapters against stock llama.cpp adapter handling (tok/s and ratios).")
final class BenchCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Option(names = "--size", defaultValue = "small", description = "Model size: tiny (n_embd 64), small (n_embd 256, "
            + "4 layers), medium (n_embd 1024, 8 layers) or 1.5b (n_embd 2048, 28 layers) (default: ${DEFAULT-VALUE}).")
    String size;

    @Option(names = "--type", defaultValue = "F16", description = "Weight type: F32, F16, Q8_0 (default: ${DEFAULT-VALUE}).")
    GgmlType type;

    @Option(names = "--adapters", defaultValue = "4", description = "K, the number of adapters (default: ${DEFAULT-VALUE}).")
    int k;

    @Option(names = "--rank", defaultValue = "8", description = "Adapter rank (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--adapter-type", defaultValue = "F16", description = "Adapter tensor type: F16 (what "
            + "convert_lora_to_gguf.py writes by default) or F32 (default: ${DEFAULT-VALUE}).")
    GgmlType adapterType;

    @Option(names = "--gen", defaultValue = "256", description = "Tokens generated per run (default: ${DEFAULT-VALUE}).")
    int gen;

    @Option(names = "--prompt", defaultValue = "16", description = "Prompt tokens before generation (default: ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--prefill", defaultValue = "512", description = "Prompt tokens for prefill (default: ${DEFAULT-VALUE}).")
    int prefill;

    @Option(names = "--parallel", defaultValue = "8", description = "Sequences in the multi-sequence scenario (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--repeat", defaultValue = "3", description = "Runs per scenario; the best is kept (default: ${DEFAULT-VALUE}).")
    int repeat;

    @Option(names = "--segmented-prefill", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Include prefill with per-token switching through the stock API (slow).")
    boolean segmentedPrefill;

    @Option(names = "--native", defaultValue = "true", negatable = true, fallbackValue = "true",
            description = "Also run native-build's C++ decode loop on the same files: Java overhead as a ratio.")
    boolean nativeReference;

    @Option(names = {"-ngl", "--gpu-layers"}, defaultValue = "-1", converter = OptionRanges.Layers.class,
            description = "Layers offloaded to the GPU (-1 = all, the default; a CPU build ignores it).")
    int gpuLayers;

    @Option(names = {"-t", "--threads"}, defaultValue = "0", converter = OptionRanges.Threads.class,
            description = "Threads (0 = all cores).")
    int threads;

    @Option(names = "--lora-routing-form", paramLabel = "auto|concat|gather", defaultValue = "auto",
            description = "How llama.cpp applies the routed adapters: concat, gather or auto (concat up to a width "
                    + "K*r_max of 1024; default: ${DEFAULT-VALUE}).")
    RoutingForm routingForm;

    @Option(names = "--verbose", description = "Stack traces on errors.")
    boolean verbose;

    private final Map<String, Double> results = new LinkedHashMap<>();

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        if (k < 1 || rank < 1 || gen < 2 || promptTokens < 1 || prefill < 1 || parallel < 1 || repeat < 1) {
            throw new IllegalArgumentException("--adapters, --rank, --prompt, --prefill, --parallel, --repeat must be >= 1 "
                    + "and --gen >= 2");
        }
        if (adapterType != GgmlType.F16 && adapterType != GgmlType.F32) {
            throw new IllegalArgumentException("--adapter-type must be F16 or F32, got " + adapterType);
        }
        Backend.init();
        LlamaConfig config = config();
        Path dir = benchDir(config);
        Path modelPath = ensureModel(config, dir);
        List<AdapterSpec> specs = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            specs.add(new AdapterSpec("a" + i, ensureAdapter(config, dir, i), 1f));
        }
        out.printf("# molora bench: %s, %s, %.2f B params, K=%d %s adapters of rank %d on q,k,v,o,gate,up,down; "
                + "routing %s%n", config.name(), type, config.parameterCount() / 1e9, k, adapterType, rank,
                Context.routingSupported() ? "in-graph (patched llama.cpp)" : "UNAVAILABLE (stock llama.cpp)");
        // where the numbers come from: the devices llama.cpp sees, and how many layers go to a GPU
        out.printf("# devices: %s; -ngl %d, -t %s%n", String.join(", ", io.molora.runtime.Devices.list().stream()
                .map(d -> d.name() + " (" + d.description() + ")").toList()), gpuLayers,
                threads > 0 ? Integer.toString(threads) : "all cores");
        out.flush();
        try (Model model = Model.load(modelPath, ModelParams.defaults().withGpuLayers(gpuLayers));
             AdapterSet set = AdapterSet.load(model, specs)) {
            runAll(model, set, out);
        }
        if (nativeReference) {
            runNative(out, modelPath, null, "no adapter");
            runNative(out, modelPath, specs.get(0).path(), "one adapter fixed (stock)");
        }
        printRatios(out);
        return 0;
    }

    private void runAll(Model model, AdapterSet set, PrintWriter out) {
        Router cycle = cyclingRouter();
        // untimed warm-up: the JIT compiles the decode loop's Java code first (on a small machine its compiler threads
        // would otherwise share the cores with the first timed scenario), as the C++ loop needs no such thing
        generation(model, set, null, false);
        generation(model, set, cycle, true);
        // --- generation ---
        measure(out, "gen: no adapter", () -> generation(model, set, null, false));
        measure(out, "gen: one adapter fixed (stock)", () -> generationStockFixed(model, set));
        measure(out, "gen: routed top-1, switching every token", () -> generation(model, set, cycle, true));
        measure(out, "gen: routed top-2 soft mix", () -> generation(model, set,
                new FixedMixRouter(new int[] {0, Math.min(1, k - 1)}, new float[] {0.6f, 0.4f}), true));
        measure(out, "gen: stock API, switching every token", () -> generation(model, set, cycle, false));
        try (RouterBench gate = new RouterBench(model, k)) {
            measure(out, "gen: learned gate deciding every token", () -> generation(model, set, gate.learned(), true));
            measure(out, "gen: the gate's routes given in advance", () -> generation(model, set, gate.replay(), true));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        // --- prefill ---
        // one prefill is a single decode call (tens of ms on a GPU): best of at least 10 to see past the noise
        int prefillRuns = prefillRepeat();
        measure(out, "prefill: no adapter", prefillRuns, () -> prefill(model, set, null, true));
        measure(out, "prefill: one adapter fixed (stock)", prefillRuns, () -> prefillStockFixed(model, set));
        measure(out, "prefill: routed, switching every token", prefillRuns, () -> prefill(model, set, cycle, true));
        if (segmentedPrefill) {
            measure(out, "prefill: stock API, switching every token", () -> prefill(model, set, cycle, false));
        }
        measure(out, "prefill: per-sequence K*N (prompt once per adapter)", prefillRuns, () -> prefillPerAdapter(model, set));
        // --- several sequences at once ---
        measure(out, "batch " + parallel + ": one adapter (stock)", () -> parallelGeneration(model, set, false));
        measure(out, "batch " + parallel + ": " + Math.min(k, parallel) + " adapters, routed per sequence",
                () -> parallelGeneration(model, set, true));
    }

    /** Route of a token = its position modulo K: the route changes at every token. */
    private Router cyclingRouter() {
        return (batch, routes) -> {
            for (int i = 0, n = batch.size(); i < n; i++) {
                routes.set(i, batch.position(i) % k, 1f);
            }
        };
    }

    // ---- scenarios: each returns tokens per second ----

    private double generation(Model model, AdapterSet set, Router router, boolean inGraph) {
        try (Context ctx = Context.create(model, contextParams(1));
             RoutedDecoder routed = router == null ? null
                     : new RoutedDecoder(ctx, set.adapters(), set.scales(), router, routingForm, inGraph)) {
            return generate(ctx, routed == null ? Decoder.plain(ctx) : routed);
        }
    }

    private double generationStockFixed(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, contextParams(1))) {
            ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
            return generate(ctx, Decoder.plain(ctx));
        }
    }

    /** Prompt, then {@code gen} single-token decodes with greedy sampling; tok/s of the generation part. */
    private double generate(Context ctx, Decoder decoder) {
        int[] prompt = randomTokens(promptTokens, ctx.vocabSize(), 1);
        try (Batch batch = new Batch(Math.max(promptTokens, 1)); Sampler greedy = new Sampler(SamplerParams.greedy())) {
            for (int i = 0; i < prompt.length; i++) {
                batch.add(prompt[i], i, 0, i == prompt.length - 1);
            }
            decoder.decode(batch);
            long t0 = System.nanoTime();
            int pos = prompt.length;
            for (int i = 0; i < gen; i++) {
                int token = greedy.sample(ctx, -1);
                batch.clear();
                batch.add(token, pos++, 0, true);
                decoder.decode(batch);
            }
            return gen / ((System.nanoTime() - t0) / 1e9);
        }
    }

    private double prefill(Model model, AdapterSet set, Router router, boolean inGraph) {
        try (Context ctx = Context.create(model, prefillParams());
             RoutedDecoder routed = router == null ? null
                     : new RoutedDecoder(ctx, set.adapters(), set.scales(), router, routingForm, inGraph)) {
            // the segmented fallback needs no warm-up: its graph rebuilds dominate
            return prefillOnce(ctx, routed == null ? Decoder.plain(ctx) : routed, 0, inGraph);
        }
    }

    private double prefillStockFixed(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, prefillParams())) {
            ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
            return prefillOnce(ctx, Decoder.plain(ctx), 0, true);
        }
    }

    /** What routing per sequence costs without in-graph routing: the prompt once per adapter (K·N work). */
    private double prefillPerAdapter(Model model, AdapterSet set) {
        try (Context ctx = Context.create(model, prefillParams())) {
            prefillOnce(ctx, Decoder.plain(ctx), 0, false);  // warm-up, as the other prefill scenarios have
            long t0 = System.nanoTime();
            for (int a = 0; a < k; a++) {
                ctx.setAdapters(List.of(set.adapters().get(a)), new float[] {1f});
                ctx.clearMemory();
                prefillOnce(ctx, Decoder.plain(ctx), 0, false);
            }
            return prefill / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /**
     * One timed prompt of {@code prefill} tokens; with {@code warmUp} the same prompt is decoded once before (and the
     * memory cleared), so that one-time costs of a fresh context (lazy kernel loading, first allocations on a GPU)
     * are not timed. The C++ reference loop does the same.
     */
    private double prefillOnce(Context ctx, Decoder decoder, int seq, boolean warmUp) {
        int[] tokens = randomTokens(prefill, ctx.vocabSize(), 2);
        try (Batch batch = new Batch(prefill)) {
            for (int i = 0; i < tokens.length; i++) {
                batch.add(tokens[i], i, seq, i == tokens.length - 1);
            }
            if (warmUp) {
                decoder.decode(batch);
                ctx.logits(-1);
                ctx.clearMemory();
            }
            long t0 = System.nanoTime();
            decoder.decode(batch);
            ctx.logits(-1);  // synchronises with the backend
            return prefill / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /**
     * {@code parallel} sequences decoded together, one token each per decode; total generated tok/s. With
     * {@code distinctAdapters} sequence s is routed to adapter s mod K, else stock llama.cpp applies adapter 0 to all.
     */
    private double parallelGeneration(Model model, AdapterSet set, boolean distinctAdapters) {
        Map<Integer, Integer> bySeq = new LinkedHashMap<>();
        for (int s = 0; s < parallel; s++) {
            bySeq.put(s, s % k);
        }
        int steps = gen;
        try (Context ctx = Context.create(model, contextParams(parallel));
             RoutedDecoder routed = distinctAdapters
                     ? new RoutedDecoder(ctx, set.adapters(), set.scales(), new PerSequenceRouter(bySeq), routingForm, true) : null;
             Batch batch = new Batch(Math.max(parallel * promptTokens, parallel))) {
            Decoder decoder = routed;
            if (routed == null) {
                ctx.setAdapters(List.of(set.adapters().get(0)), new float[] {1f});
                decoder = Decoder.plain(ctx);
            }
            Random rnd = new Random(3);
            for (int s = 0; s < parallel; s++) {
                for (int i = 0; i < promptTokens; i++) {
                    batch.add(3 + rnd.nextInt(ctx.vocabSize() - 3), i, s, i == promptTokens - 1);
                }
            }
            decoder.decode(batch);
            long t0 = System.nanoTime();
            for (int step = 0; step < steps; step++) {
                batch.clear();
                for (int s = 0; s < parallel; s++) {
                    // argmax of each sequence's logits, as greedy sampling would pick
                    int token = argmax(ctx.logitsView(step == 0 ? (s + 1) * promptTokens - 1 : s));
                    batch.add(token, promptTokens + step, s, true);
                }
                decoder.decode(batch);
            }
            return (double) steps * parallel / ((System.nanoTime() - t0) / 1e9);
        }
    }

    /** The same generation and prefill loops in C++ (native-build/bench/decode_loop.cpp), on the same files. */
    private void runNative(PrintWriter out, Path model, Path lora, String label) throws IOException {
        Path exe = Backend.libraryDir().getParent().resolve("bin/molora-decode-loop");
        if (!Files.isExecutable(exe)) {
            out.println("(no native reference: " + exe + " is missing; run native-build/build.sh)");
            nativeReference = false;
            return;
        }
        List<String> cmd = new ArrayList<>(List.of(exe.toString(), "-m", model.toString(), "--prompt",
                Integer.toString(promptTokens), "--gen", Integer.toString(gen), "--prefill", Integer.toString(prefill),
                "--repeat", Integer.toString(repeat), "--prefill-repeat", Integer.toString(prefillRepeat()),
                "-ngl", Integer.toString(gpuLayers)));
        if (threads > 0) {
            cmd.addAll(List.of("-t", Integer.toString(threads)));
        }
        if (lora != null) {
            cmd.addAll(List.of("--lora", lora.toString()));
        }
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String text = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        try {
            if (p.waitFor() != 0) {
                throw new LlamaException("native reference loop failed (exit " + p.exitValue() + ")");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new LlamaException("interrupted");
        }
        for (String line : text.split("\\R")) {
            String[] f = line.trim().split(" ");
            if (f.length == 2) {
                String name = "native " + f[0] + ": " + label;
                results.put(name, Double.parseDouble(f[1]));
                out.printf("| %-58s | %10.1f tok/s |%n", name, Double.parseDouble(f[1]));
            }
        }
        out.flush();
    }

    // ---- measurement and report ----

    private int prefillRepeat() {
        return Math.max(repeat, 10);
    }

    private void measure(PrintWriter out, String name, java.util.function.DoubleSupplier run) {
        measure(out, name, repeat, run);
    }

    private void measure(PrintWriter out, String name, int runs, java.util.function.DoubleSupplier run) {
        double best = 0;
        for (int i = 0; i < runs; i++) {
            best = Math.max(best, run.getAsDouble());
        }
        results.put(name, best);
        out.printf("| %-58s | %10.1f tok/s |%n", name, best);
        out.flush();
    }

    private void printRatios(PrintWriter out) {
        out.println();
        out.println("# ratios (target in brackets)");
        ratio(out, "gen: routed top-1, switching every token", "gen: one adapter fixed (stock)", ">= 0.90");
        ratio(out, "gen: routed top-1, switching every token", "gen: no adapter", "stretch >= 0.85");
        ratio(out, "gen: routed top-1, switching every token", "gen: stock API, switching every token", "");
        ratio(out, "gen: routed top-2 soft mix", "gen: one adapter fixed (stock)", "");
        ratio(out, "gen: learned gate deciding every token", "gen: the gate's routes given in advance", ">= 0.90");
        ratio(out, "prefill: routed, switching every token", "prefill: one adapter fixed (stock)", ">= 0.90");
        ratio(out, "prefill: routed, switching every token", "prefill: per-sequence K*N (prompt once per adapter)", ">= 3");
        ratio(out, "prefill: routed, switching every token", "prefill: stock API, switching every token", "");
        ratio(out, "gen: no adapter", "native gen: no adapter", "Java/C++ >= 0.97");
        ratio(out, "gen: one adapter fixed (stock)", "native gen: one adapter fixed (stock)", "Java/C++ >= 0.97");
        ratio(out, "prefill: no adapter", "native prefill: no adapter", "Java/C++ >= 0.97");
        ratio(out, "prefill: one adapter fixed (stock)", "native prefill: one adapter fixed (stock)", "Java/C++ >= 0.97");
        String batchRouted = results.keySet().stream().filter(s -> s.contains("routed per sequence")).findFirst().orElse("");
        ratio(out, batchRouted, "batch " + parallel + ": one adapter (stock)", ">= 0.85");
        out.flush();
    }

    private void ratio(PrintWriter out, String a, String b, String target) {
        if (results.containsKey(a) && results.containsKey(b)) {
            out.printf("%-44s / %-44s = %5.2f %s%n", a, b, results.get(a) / results.get(b),
                    target.isEmpty() ? "" : "[" + target + "]");
        }
    }

    // ---- model and adapters, written once into the cache ----

    private LlamaConfig config() throws IOException {
        int vocab = tokenizer().vocabSize();
        LlamaConfig c = switch (size) {
            case "tiny" -> LlamaConfig.tiny(vocab);
            case "small" -> new LlamaConfig("molora-bench-small", vocab, 256, 4, 768, 4, 2, 4096, 10000f, 1e-5f, type);
            case "medium" -> new LlamaConfig("molora-bench-medium", vocab, 1024, 8, 3072, 8, 4, 4096, 10000f, 1e-5f, type);
            case "1.5b" -> LlamaConfig.bench1_5b(vocab);
            default -> throw new IllegalArgumentException("--size must be tiny, small, medium or 1.5b, got '" + size + "'");
        };
        return c.withWeightType(type);
    }

    private TokenizerMetadata tokenizer() throws IOException {
        String src = System.getProperty("molora.llama.src");
        if (src == null || src.isBlank()) {
            throw new LlamaException("bench needs llama.cpp's source tree for its tokenizer: run through ./molora");
        }
        return TokenizerMetadata.load(TokenizerMetadata.llamaSpmVocab(Path.of(src)));
    }

    private Path benchDir(LlamaConfig c) throws IOException {
        Path dir = CacheDir.resolve("bench", c.name() + "-" + type);
        Files.createDirectories(dir);
        return dir;
    }

    private Path ensureModel(LlamaConfig c, Path dir) throws IOException {
        return ensure(dir.resolve("model.gguf"), p -> SyntheticModel.of(c, tokenizer(), 99).write(p));
    }

    private Path ensureAdapter(LlamaConfig c, Path dir, int i) throws IOException {
        EnumSet<LoraTarget> targets = EnumSet.of(LoraTarget.Q, LoraTarget.K, LoraTarget.V, LoraTarget.O,
                LoraTarget.GATE, LoraTarget.UP, LoraTarget.DOWN);
        LoraSpec spec = new LoraSpec("a" + i, rank, rank, targets, 100 + i, 1f, adapterType);
        return ensure(dir.resolve("lora-r" + rank + "-" + adapterType + "-" + i + ".gguf"),
                p -> SyntheticLora.random(c, spec).write(p));
    }

    private interface Writer {
        void write(Path p) throws IOException;
    }

    private static Path ensure(Path target, Writer writer) throws IOException {
        if (!Files.isRegularFile(target)) {
            Path tmp = Files.createTempFile(target.getParent(), "bench", ".partial");
            writer.write(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
    }

    private ContextParams contextParams(int sequences) {
        int ctx = (promptTokens + gen + 8) * sequences;
        return ContextParams.defaults().withContextSize(ctx).withBatch(Math.max(512, sequences * promptTokens), 512)
                .withMaxSequences(sequences).withThreads(threads, threads);
    }

    private ContextParams prefillParams() {
        return ContextParams.defaults().withContextSize(prefill + 8).withBatch(prefill, Math.min(prefill, 512))
                .withThreads(threads, threads);
    }

    private static int[] randomTokens(int n, int vocab, long seed) {
        Random rnd = new Random(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = 3 + rnd.nextInt(vocab - 3);
        }
        return t;
    }

    private static int argmax(java.lang.foreign.MemorySegment logits) {
        int best = 0;
        float bestValue = Float.NEGATIVE_INFINITY;
        for (int i = 0, n = (int) (logits.byteSize() / Float.BYTES); i < n; i++) {
            float v = logits.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
            if (v > bestValue) {
                bestValue = v;
                best = i;
            }
        }
        return best;
    }
}
