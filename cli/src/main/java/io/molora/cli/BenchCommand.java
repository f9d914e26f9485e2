package io.molora.cli;

import io.molora.engine.bench.BenchFixture;
import io.molora.engine.bench.BenchListener;
import io.molora.engine.bench.BenchRatio;
import io.molora.engine.bench.BenchReport;
import io.molora.engine.bench.BenchRow;
import io.molora.engine.bench.BenchSettings;
import io.molora.engine.bench.Benchmark;
import io.molora.gguf.GgmlType;
import io.molora.runtime.Backend;
import io.molora.runtime.Context;
import io.molora.runtime.Devices;
import io.molora.runtime.LlamaException;
import io.molora.runtime.RoutingForm;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;

/**
 * {@code molora bench}: per-token routing against stock llama.cpp behaviour on a synthetic model and K synthetic
 * adapters ({@link Benchmark} in the engine runs the scenarios); prints a row per scenario as it finishes, then the
 * ratios.
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

    @Option(names = "--adapters", defaultValue = "4", converter = OptionRanges.AdapterCount.class,
            description = "K, the number of adapters (default: ${DEFAULT-VALUE}).")
    int k;

    @Option(names = "--rank", defaultValue = "8", converter = OptionRanges.Rank.class,
            description = "Adapter rank (default: ${DEFAULT-VALUE}).")
    int rank;

    @Option(names = "--adapter-type", defaultValue = "F16", description = "Adapter tensor type: F16 (what "
            + "convert_lora_to_gguf.py writes by default) or F32 (default: ${DEFAULT-VALUE}).")
    GgmlType adapterType;

    @Option(names = "--gen", defaultValue = "256", converter = OptionRanges.BenchTokens.class, description = "Tokens generated per run, 2 or more (default: ${DEFAULT-VALUE}).")
    int gen;

    @Option(names = "--prompt", defaultValue = "16", converter = OptionRanges.BenchTokens.class,
            description = "Prompt tokens before generation (default: ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--prefill", defaultValue = "512", converter = OptionRanges.BenchTokens.class,
            description = "Prompt tokens for prefill (default: ${DEFAULT-VALUE}).")
    int prefill;

    @Option(names = "--parallel", defaultValue = "8", converter = OptionRanges.Parallel.class,
            description = "Sequences in the multi-sequence scenario (default: ${DEFAULT-VALUE}).")
    int parallel;

    @Option(names = "--repeat", defaultValue = "3", converter = OptionRanges.Repeats.class,
            description = "Runs per scenario; the best is kept (default: ${DEFAULT-VALUE}).")
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

    @Override
    public Integer call() throws IOException {
        if (gen < 2) {
            throw new ParameterException(spec.commandLine(), "--gen must be 2 or more, got " + gen);
        }
        if (!BenchFixture.SIZES.contains(size)) {
            throw new ParameterException(spec.commandLine(), "--size must be one of " + BenchFixture.SIZES + ", got '"
                    + size + "'");
        }
        if (adapterType != GgmlType.F16 && adapterType != GgmlType.F32) {
            throw new ParameterException(spec.commandLine(), "--adapter-type must be F16 or F32, got " + adapterType);
        }
        BenchSettings settings = new BenchSettings(size, type, k, rank, adapterType, gen, promptTokens, prefill,
                parallel, repeat, segmentedPrefill, nativeReference, gpuLayers, threads, routingForm);
        PrintWriter out = spec.commandLine().getOut();
        Backend.init();
        BenchFixture fixture = BenchFixture.ensure(settings, CacheDir.resolve("bench"), llamaSource());
        out.printf("# molora bench: %s, %s, %.2f B params, K=%d %s adapters of rank %d on q,k,v,o,gate,up,down; "
                + "routing %s%n", fixture.config().name(), type, fixture.config().parameterCount() / 1e9, k,
                adapterType, rank, Context.routingSupported() ? "in-graph (patched llama.cpp)"
                        : "UNAVAILABLE (stock llama.cpp)");
        // where the numbers come from: the devices llama.cpp sees, and how many layers go to a GPU
        out.printf("# devices: %s; -ngl %d, -t %s%n", String.join(", ", Devices.list().stream()
                .map(d -> d.name() + " (" + d.description() + ")").toList()), gpuLayers,
                threads > 0 ? Integer.toString(threads) : "all cores");
        out.flush();
        BenchReport report = Benchmark.run(settings, fixture, new BenchListener() {
            @Override
            public void row(BenchRow row) {
                out.printf("| %-58s | %10.1f tok/s |%n", row.name(), row.tokensPerSecond());
                out.flush();
            }

            @Override
            public void note(String line) {
                out.println("(" + line + ")");
                out.flush();
            }
        });
        printRatios(out, report.ratios());
        return 0;
    }

    private static void printRatios(PrintWriter out, List<BenchRatio> ratios) {
        out.println();
        out.println("# ratios (target in brackets)");
        for (BenchRatio r : ratios) {
            out.printf("%-44s / %-44s = %5.2f %s%n", r.numerator(), r.denominator(), r.value(),
                    r.target().isEmpty() ? "" : "[" + r.target() + "]");
        }
        out.flush();
    }

    /** llama.cpp's source tree, whose SPM test vocabulary the synthetic model gets (the launcher sets it). */
    private static Path llamaSource() {
        String src = System.getProperty("molora.llama.src");
        if (src == null || src.isBlank()) {
            throw new LlamaException("bench needs llama.cpp's source tree for its tokenizer: run through ./molora");
        }
        return Path.of(src);
    }
}
