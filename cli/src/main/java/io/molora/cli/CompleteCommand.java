package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.AdapterMix;
import io.molora.engine.Completion;
import io.molora.engine.CompletionRequest;
import io.molora.engine.CompletionSettings;
import io.molora.engine.CompletionSink;
import io.molora.engine.DecodeStats;
import io.molora.engine.Engine;
import io.molora.engine.OutputFile;
import io.molora.engine.RouterSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Offline batch completion: many prompts from files, several sequences decoding at once in one context (continuous
 * batching), results appended to a JSONL file as each completes; a rerun skips what is already there.
 */
@Command(name = "complete", mixinStandardHelpOptions = true, defaultValueProvider = ConfigDefaults.class,
        description = {"Complete many prompts from files, several at once, into a JSONL file.",
                "",
                "Input: JSONL in the OpenAI batch style, one request a line: custom_id, prompt or messages (chat template"
                        + " of the model), and optionally max_tokens, temperature, top_k, top_p, min_p, seed, stop (a string or"
                        + " up to 16; the text ends before the first it reaches), adapter"
                        + " (a --lora name, or none) or adapters ({name: weight}); the same fields may sit in a \"body\""
                        + " object. Other files: one prompt per file, or per line with --lines. Directories: their files.",
                "",
                "Output: one JSON line per request, in completion order: custom_id, text, finish_reason"
                        + " (stop|length|context_full), usage, adapter_tokens, timings; routes with --show-routes;"
                        + " error records name the file and line. Exit 1 if any request failed."},
        footerHeading = "%nExit codes:%n",
        footer = {"  0  every request completed", "  1  some request failed (see the error records) or the run failed",
                "  2  bad command line"})
final class CompleteCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    AdapterOptions adapterOptions;

    @Parameters(paramLabel = "INPUT", arity = "1..*", description = "Input files or directories.")
    List<Path> inputs;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true,
            description = "Output JSONL file (appended to; refused if it is not molora's, one of the inputs, or "
                    + "another run is writing it).")
    Path output;

    @Option(names = "--force", description = "Start over an existing -o that is not molora's result file (never an "
            + "input or a directory).")
    boolean force;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", defaultValue = "4", converter = OptionRanges.Parallel.class,
            description = "Sequences decoded at once (default: ${DEFAULT-VALUE}); each gets ctx-size / N positions.")
    int parallel;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "128", converter = OptionRanges.TokenLimit.class,
            description = "Default max tokens per request, -1 = until end of text or a full slot (default: ${DEFAULT-VALUE}).")
    int nPredict;

    @Option(names = "--lines", description = "Plain text inputs hold one prompt per line (default: one per file).")
    boolean lines;

    @Option(names = "--format", paramLabel = "FMT", defaultValue = "auto",
            description = "Input format: auto (.jsonl = JSONL, else text), jsonl, text, lines (default: ${DEFAULT-VALUE}).")
    BatchInput.Format format;

    @Option(names = "--adapter", paramLabel = "NAME[,NAME...]",
            description = "Adapters for requests that name none (default: every --lora, as llama.cpp applies them; 'none' = base model).")
    String defaultAdapters;

    @Option(names = "--resume", negatable = true, defaultValue = "true", fallbackValue = "true",
            description = "Skip requests whose custom_id is already in the output (default: on; --no-resume starts over).")
    boolean resume;

    @Option(names = "--progress", paramLabel = "MODE", defaultValue = "auto",
            description = "auto (a bar on a terminal, else a line every --progress-interval), bar, lines, none.")
    String progress;

    @Option(names = "--progress-interval", paramLabel = "S", defaultValue = "10", converter = OptionRanges.Interval.class,
            description = "Seconds between progress lines when not on a terminal (default: ${DEFAULT-VALUE}).")
    double progressInterval;

    @Override
    public Integer call() {
        CommandLine cmd = spec.commandLine();
        PrintWriter err = cmd.getErr();
        model.require(cmd);
        RouterSpec router = adapterOptions.tokenRouter(cmd).orElse(new RouterSpec.Base());
        List<AdapterSpec> specs = adapterOptions.specs(cmd);
        // the output is checked before the inputs are read and the model is opened
        List<Path> readFrom = new ArrayList<>(List.of(model.model));
        specs.forEach(a -> readFrom.add(a.path()));
        Stream.of(adapterOptions.router, adapterOptions.routes).filter(Objects::nonNull).forEach(readFrom::add);
        readFrom.addAll(inputs);
        OutputFile.Target target = OutputFile.check(output, ResultFile.KIND, readFrom, force);
        List<BatchInput.Item> items = BatchInput.read(inputs, lines && format == BatchInput.Format.AUTO
                ? BatchInput.Format.LINES : format, new BatchInput.Defaults(nPredict, sampling.params()));
        try (ResultLog log = ResultLog.open(target, resume, force);
             Engine engine = model.open(specs, router)) {
            Optional<AdapterMix> defaults = defaultAdapters == null ? Optional.empty()
                    : Optional.of(AdapterOptions.mix(defaultAdapters, engine.adapterNames(), cmd));
            ResultLog.Plan plan = log.plan(items);
            log.notes().forEach(n -> err.println("molora: " + n));
            if (plan.skipped() > 0) {
                err.printf("molora: resuming: %d of %d request(s) already in %s%n", plan.skipped(), items.size(), output);
            }
            err.flush();
            Progress.Stats stats = new Progress.Stats(plan.todo().size());
            DecodeStats decodes;
            try (Progress.Display display = Progress.Display.create(progress, progressInterval, plan.todo().size(), err)) {
                // lines that could not be read are done at once; the requests go to the engine
                Map<CompletionRequest, BatchInput.Request> sources = new IdentityHashMap<>();
                List<CompletionRequest> requests = new ArrayList<>();
                for (BatchInput.Item item : plan.todo()) {
                    switch (item) {
                        case BatchInput.Failed f -> {
                            log.appendError(f, f.error());
                            stats.failed++;
                            display.update(stats);
                        }
                        case BatchInput.Request r -> {
                            sources.put(r.request(), r);
                            requests.add(r.request());
                        }
                    }
                }
                decodes = engine.complete(requests, new CompletionSettings(parallel, defaults, adapterOptions.showRoutes),
                        new CompletionSink() {
                            @Override
                            public void completed(Completion c) {
                                log.appendResult(c, sources.get(c.request()), engine.adapterNames(),
                                        adapterOptions.showRoutes);
                                stats.done++;
                                display.update(stats);
                            }

                            @Override
                            public void failed(CompletionRequest request, String message) {
                                BatchInput.Request source = sources.get(request);
                                log.appendError(source, source.file() + ":" + source.line() + ": " + message);
                                stats.failed++;
                                display.update(stats);
                            }

                            @Override
                            public void token(CompletionRequest request) {
                                stats.tokens++;
                            }
                        });
            }
            double secs = stats.seconds();
            err.printf("molora: %d completed, %d failed, %d skipped (already done); %d tokens generated in %.1f s "
                    + "(%.1f tok/s, --parallel %d) -> %s%n", stats.done, stats.failed, plan.skipped(), stats.tokens,
                    secs, stats.tokens / Math.max(secs, 1e-9), parallel, output);
            if (decodes.decodes() > 0) {
                err.printf("molora: %d decodes, %.2f of %d sequences busy in each on average, %.1f ms each (%.0f %% of "
                        + "the time decoding)%n", decodes.decodes(), decodes.busySlots() / (double) decodes.decodes(),
                        parallel, decodes.decodeNanos() / 1e6 / decodes.decodes(),
                        100 * decodes.decodeNanos() / 1e9 / Math.max(secs, 1e-9));
            }
            if (plan.priorErrors() > 0) {
                err.printf("molora: %d request(s) failed in an earlier run (error records in %s)%n",
                        plan.priorErrors(), output);
            }
            err.flush();
            return stats.failed + plan.priorErrors() > 0 ? 1 : 0;
        }
    }
}
