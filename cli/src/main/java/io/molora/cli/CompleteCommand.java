package io.molora.cli;

import io.molora.engine.RouterSpec;
import io.molora.engine.Engine;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSet;
import io.molora.adapters.routers.MixedRouter;
import io.molora.adapters.routers.SlotRouter;
import io.molora.runtime.Backend;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.Model;
import io.molora.runtime.RouteTable;
import io.molora.runtime.TokenBatch;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.SequenceScheduler;
import io.molora.runtime.StopReason;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParameterException;
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
                        + " of the model), and optionally max_tokens, temperature, top_k, top_p, min_p, seed, adapter"
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
    private static final ObjectMapper JSON = new ObjectMapper();

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

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "Output JSONL file (appended to).")
    Path output;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", defaultValue = "4",
            description = "Sequences decoded at once (default: ${DEFAULT-VALUE}); each gets ctx-size / N positions.")
    int parallel;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "128",
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

    @Option(names = "--progress-interval", paramLabel = "S", defaultValue = "10",
            description = "Seconds between progress lines when not on a terminal (default: ${DEFAULT-VALUE}).")
    double progressInterval;

    @Override
    public Integer call() {
        PrintWriter err = spec.commandLine().getErr();
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (parallel < 1 || parallel > 256) {
            throw new ParameterException(spec.commandLine(), "--parallel must be in [1, 256], got " + parallel);
        }
        if (nPredict < -1) {
            throw new ParameterException(spec.commandLine(), "-n must be -1 or >= 0, got " + nPredict);
        }
        adapterOptions.specs(spec.commandLine());
        adapterOptions.checkRouters();
        if (model.verbose) {
            Backend.setLogLevel(Level.INFO);
        }
        SamplerParams defaults = sampling.params();
        List<BatchInput.Item> items = BatchInput.read(inputs, lines && format == BatchInput.Format.AUTO
                ? BatchInput.Format.LINES : format);

        try (ResultLog log = ResultLog.open(output, resume);
             Engine engine = model.open(adapterOptions.specs(spec.commandLine()), new RouterSpec.Base())) {
            Model m = engine.model();
            Map<String, Boolean> done = log.existing();
            // what to do: skip finished ids, refuse duplicates
            List<BatchInput.Item> todo = new ArrayList<>();
            Set<String> seen = new HashSet<>();
            int skipped = 0;
            int priorErrors = 0;
            for (BatchInput.Item item : items) {
                if (!seen.add(item.id())) {
                    if (!done.containsKey(item.id() + "#dup@" + item.file() + ":" + item.line())) {
                        todo.add(BatchInput.Item.failed(item.id() + "#dup@" + item.file() + ":" + item.line(),
                                item.file(), item.line(), item.file() + ":" + item.line() + ": duplicate custom_id '"
                                        + item.id() + "'"));
                    } else {
                        priorErrors++;
                    }
                    continue;
                }
                if (done.containsKey(item.id())) {
                    skipped++;
                    if (done.get(item.id())) {
                        priorErrors++;
                    }
                    continue;
                }
                todo.add(item);
            }
            if (skipped > 0 || log.tornLines() > 0) {
                err.printf("molora: resuming: %d of %d request(s) already in %s%s%n", skipped, items.size(), output,
                        log.tornLines() > 0 ? " (" + log.tornLines() + " torn line(s) dropped)" : "");
                err.flush();
            }
            return run(m, engine.adapters().orElse(null), log, todo, defaults, skipped, priorErrors, err);
        }
    }

    /** One request on its way through the scheduler. */
    private final class Task implements SequenceScheduler.Job {
        final BatchInput.Item item;
        final int[] prompt;
        final int maxTokens;
        final SamplerParams params;
        final int[] adapterIds;
        final float[] adapterWeights;
        final Map<String, Integer> adapterTokens = new LinkedHashMap<>();
        final ArrayNode routes;
        GeneratedToken last;

        Task(BatchInput.Item item, int[] prompt, SamplerParams params, int[] ids, float[] weights) {
            this.item = item;
            this.prompt = prompt;
            int n = item.maxTokens() != null ? item.maxTokens() : nPredict;
            this.maxTokens = n < 0 ? Integer.MAX_VALUE : n;
            this.params = params;
            this.adapterIds = ids;
            this.adapterWeights = weights;
            this.routes = adapterOptions.showRoutes ? JSON.createArrayNode() : null;
        }

        @Override
        public int[] prompt() {
            return prompt;
        }

        @Override
        public int maxTokens() {
            return maxTokens;
        }

        @Override
        public SamplerParams sampling() {
            return params;
        }
    }

    private int run(Model m, AdapterSet adapters, ResultLog log, List<BatchInput.Item> todo, SamplerParams defaults, int skipped,
            int priorErrors, PrintWriter err) {
        List<AutoCloseable> resources = new ArrayList<>();
        try {
            List<String> names = adapters == null ? List.of() : adapters.names();
            Map<String, Float> runMix = defaultMix(names);
            // k: the largest mix any request asks for
            int k = Math.max(1, runMix.size());
            for (BatchInput.Item item : todo) {
                if (item.adapters() != null) {
                    k = Math.max(k, item.adapters().size());
                }
            }
            ChatTemplate[] template = new ChatTemplate[1];
            ArrayDeque<BatchInput.Item> queue = new ArrayDeque<>(todo);
            Stats stats = new Stats(todo.size());
            try (Progress progressOut = Progress.create(progress, progressInterval, todo.size(), err);
                 Context ctx = Context.create(m, model.contextParams().withMaxSequences(parallel))) {
                SlotRouter router = adapters == null ? null : new SlotRouter(parallel, Math.min(k, Math.max(1, names.size())));
                Router tokenRouter = adapterOptions.tokenRouter(m, adapters, resources);
                MixedRouter mixed = tokenRouter == null ? null : new MixedRouter(tokenRouter, router, parallel);
                RoutedDecoder routed = adapters == null ? null
                        : adapters.decoder(ctx, mixed != null ? mixed : router);
                Decoder decoder = routed != null ? routed : Decoder.plain(ctx);
                try (SequenceScheduler scheduler = new SequenceScheduler(ctx, decoder, parallel);
                     RouteTable probeRoutes = new RouteTable(1, routed == null ? 1 : routed.router().maxAdaptersPerToken())) {
                    java.util.function.Supplier<Task> next = () -> {
                        while (!queue.isEmpty()) {
                            BatchInput.Item item = queue.poll();
                            try {
                                if (item.error() != null) {
                                    throw new IllegalArgumentException(item.error());
                                }
                                return task(m, item, defaults, runMix, names, template);
                            } catch (RuntimeException e) {
                                writeError(log, item, e.getMessage());
                                stats.failed++;
                                progressOut.update(stats);
                            }
                        }
                        return null;
                    };
                    scheduler.run(next, new SequenceScheduler.Listener<Task>() {
                        @Override
                        public void started(Task t, int slot) {
                            if (router != null) {
                                router.set(slot, t.adapterIds, t.adapterWeights);
                            }
                            if (mixed != null) {
                                // a request naming its adapters (or a run with --adapter) keeps them; others follow --routes
                                mixed.start(slot, t.item.adapters() != null || defaultAdapters != null);
                            }
                        }

                        @Override
                        public void token(Task t, int slot, GeneratedToken token, int batchIndex) {
                            stats.tokens++;
                            if (routed == null) {
                                return;
                            }
                            // a token's route is the one it is decoded with: the previous token's is known now
                            if (t.last != null) {
                                recordRoute(t, t.last, routed.lastRoutes(), batchIndex, names);
                            }
                            t.last = token;
                        }

                        @Override
                        public void finished(Task t, int slot, SequenceScheduler.Outcome o) {
                            if (o.stopReason() == StopReason.CANCELLED) {
                                return;  // in flight when stopped: not written, a rerun does it
                            }
                            if (routed != null && t.last != null) {
                                // the last token is never decoded: ask the router what its route would be
                                probeRoutes.clear(1);
                                routed.router().route(TokenBatch.single(t.last.id(), t.last.position(), slot), probeRoutes);
                                recordRoute(t, t.last, probeRoutes, 0, names);
                            }
                            log.append(result(t, o));
                            stats.done++;
                            progressOut.update(stats);
                        }

                        @Override
                        public void failed(Task t, RuntimeException e) {
                            writeError(log, t.item, e.getMessage());
                            stats.failed++;
                            progressOut.update(stats);
                        }
                    });
                } finally {
                    if (routed != null) {
                        routed.close();
                    }
                }
            }
            double secs = stats.seconds();
            err.printf("molora: %d completed, %d failed, %d skipped (already done); %d tokens generated in %.1f s "
                    + "(%.1f tok/s, --parallel %d) -> %s%n", stats.done, stats.failed, skipped, stats.tokens, secs,
                    stats.tokens / Math.max(secs, 1e-9), parallel, output);
            if (priorErrors > 0) {
                err.printf("molora: %d request(s) failed in an earlier run (error records in %s)%n", priorErrors, output);
            }
            err.flush();
            return stats.failed + priorErrors > 0 ? 1 : 0;
        } finally {
            for (AutoCloseable r : resources) {
                try {
                    r.close();
                } catch (Exception e) {
                    // closing a read-only mapping; nothing to report
                }
            }
        }
    }

    private Map<String, Float> defaultMix(List<String> names) {
        Map<String, Float> mix = new LinkedHashMap<>();
        if (defaultAdapters == null) {
            names.forEach(n -> mix.put(n, 1f));
            return mix;
        }
        for (String n : defaultAdapters.split(",")) {
            String name = n.strip();
            if (name.equals("none") || name.equals("base") || name.isEmpty()) {
                continue;
            }
            if (!names.contains(name)) {
                throw new ParameterException(spec.commandLine(), "--adapter " + name + ": no adapter of that name (loaded: "
                        + (names.isEmpty() ? "none" : String.join(", ", names)) + ")");
            }
            mix.put(name, 1f);
        }
        return mix;
    }

    private Task task(Model m, BatchInput.Item item, SamplerParams defaults, Map<String, Float> runMix,
            List<String> names, ChatTemplate[] template) {
        String text;
        if (item.messages() != null) {
            if (template[0] == null) {
                template[0] = ChatTemplate.of(m);
            }
            text = template[0].apply(item.messages(), true);
        } else {
            text = item.prompt();
        }
        int[] tokens = m.tokenizer().tokenize(text, true, true);
        int bos = m.tokenizer().bos();
        if (tokens.length > 1 && tokens[0] == bos && tokens[1] == bos) {
            tokens = java.util.Arrays.copyOfRange(tokens, 1, tokens.length);
        }
        SamplerParams p = new SamplerParams(
                item.temperature() != null ? item.temperature() : defaults.temperature(),
                item.topK() != null ? item.topK() : defaults.topK(),
                item.topP() != null ? item.topP() : defaults.topP(),
                item.minP() != null ? item.minP() : defaults.minP(),
                item.seed() != null ? item.seed() : defaults.seed());
        Map<String, Float> mix = item.adapters() != null ? item.adapters() : runMix;
        int[] ids = new int[mix.size()];
        float[] weights = new float[mix.size()];
        int i = 0;
        for (Map.Entry<String, Float> e : mix.entrySet()) {
            int id = names.indexOf(e.getKey());
            if (id < 0) {
                throw new IllegalArgumentException(item.file() + ":" + item.line() + ": no adapter named '" + e.getKey()
                        + "' (loaded: " + (names.isEmpty() ? "none" : String.join(", ", names)) + ")");
            }
            ids[i] = id;
            weights[i++] = e.getValue();
        }
        return new Task(item, tokens, p, ids, weights);
    }

    /** Counts (and with --show-routes lists) the adapters of row {@code row} as the route of {@code token}. */
    private static void recordRoute(Task t, GeneratedToken token, RouteTable r, int row, List<String> names) {
        ArrayNode used = t.routes == null ? null : JSON.createArrayNode();
        boolean any = false;
        for (int j = 0; j < r.k(); j++) {
            int a = r.adapter(row, j);
            float w = r.weight(row, j);
            if (a != RouteTable.NONE && w != 0f) {
                any = true;
                t.adapterTokens.merge(names.get(a), 1, Integer::sum);
                if (used != null) {
                    used.add(w == 1f ? names.get(a) : names.get(a) + ":" + w);
                }
            }
        }
        if (!any) {
            t.adapterTokens.merge("none", 1, Integer::sum);
        }
        if (t.routes != null) {
            ObjectNode o = t.routes.addObject();
            o.put("token", token.text());
            o.set("adapters", used);
        }
    }

    private ObjectNode result(Task t, SequenceScheduler.Outcome o) {
        ObjectNode r = JSON.createObjectNode();
        r.put("custom_id", t.item.id());
        r.put("text", o.text());
        r.put("finish_reason", switch (o.stopReason()) {
            case END_OF_GENERATION -> "stop";
            case MAX_TOKENS -> "length";
            case CONTEXT_FULL -> "context_full";
            case CANCELLED -> "cancelled";
        });
        ObjectNode usage = r.putObject("usage");
        usage.put("prompt_tokens", o.promptTokens());
        usage.put("completion_tokens", o.tokens().length);
        usage.put("total_tokens", o.promptTokens() + o.tokens().length);
        ObjectNode perAdapter = r.putObject("adapter_tokens");
        t.adapterTokens.forEach(perAdapter::put);
        ObjectNode timings = r.putObject("timings");
        double promptMs = (o.firstTokenNanos() - o.startNanos()) / 1e6;
        double genMs = (o.endNanos() - o.firstTokenNanos()) / 1e6;
        timings.put("prompt_ms", Math.round(promptMs * 10) / 10.0);
        timings.put("generation_ms", Math.round(genMs * 10) / 10.0);
        timings.put("tokens_per_second", genMs > 0 ? Math.round(10 * (o.tokens().length - 1) / (genMs / 1000)) / 10.0 : 0);
        r.put("file", t.item.file());
        r.put("line", t.item.line());
        if (t.routes != null) {
            r.set("routes", t.routes);
        }
        return r;
    }

    private static void writeError(ResultLog log, BatchInput.Item item, String message) {
        ObjectNode r = JSON.createObjectNode();
        r.put("custom_id", item.id());
        ObjectNode e = r.putObject("error");
        e.put("message", message == null ? "failed" : message);
        e.put("file", item.file());
        e.put("line", item.line());
        log.append(r);
    }

    /** Counters shared with the progress display. */
    static final class Stats {
        final int total;
        final long start = System.nanoTime();
        int done;
        int failed;
        long tokens;

        Stats(int total) {
            this.total = total;
        }

        double seconds() {
            return (System.nanoTime() - start) / 1e9;
        }
    }

    /** A progress bar on a terminal, plain periodic lines otherwise. */
    interface Progress extends AutoCloseable {
        void update(Stats s);

        @Override
        void close();

        static Progress create(String mode, double interval, int total, PrintWriter err) {
            boolean terminal = System.console() != null && System.console().isTerminal();
            String m = mode.equals("auto") ? (terminal ? "bar" : "lines") : mode;
            return switch (m) {
                case "none" -> new Progress() {
                    public void update(Stats s) {}

                    public void close() {}
                };
                case "bar" -> {
                    ProgressBar bar = new ProgressBarBuilder().setTaskName("complete").setInitialMax(total)
                            .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUnit(" items", 1)
                            .setConsumer(new ConsoleProgressBarConsumer(System.err)).showSpeed().build();
                    yield new Progress() {
                        public void update(Stats s) {
                            bar.stepTo(s.done + s.failed);
                            bar.setExtraMessage(String.format(" %.1f tok/s%s", s.tokens / Math.max(s.seconds(), 1e-9),
                                    s.failed > 0 ? ", " + s.failed + " failed" : ""));
                        }

                        public void close() {
                            bar.close();
                        }
                    };
                }
                case "lines" -> new Progress() {
                    long last = System.nanoTime();

                    public void update(Stats s) {
                        long now = System.nanoTime();
                        if ((now - last) / 1e9 < interval && s.done + s.failed < s.total) {
                            return;
                        }
                        last = now;
                        double secs = s.seconds();
                        int finished = s.done + s.failed;
                        double rate = finished / Math.max(secs, 1e-9);
                        long eta = rate > 0 ? Math.round((s.total - finished) / rate) : -1;
                        err.printf("molora: %d/%d done, %d failed, %.1f tok/s, elapsed %ds, eta %s%n", finished, s.total,
                                s.failed, s.tokens / Math.max(secs, 1e-9), Math.round(secs), eta < 0 ? "?" : eta + "s");
                        err.flush();
                    }

                    public void close() {}
                };
                default -> throw new IllegalArgumentException("--progress must be auto, bar, lines or none, got " + mode);
            };
        }
    }
}
