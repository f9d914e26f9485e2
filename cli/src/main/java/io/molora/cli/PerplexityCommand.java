package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.eval.Perplexity;
import io.molora.adapters.eval.SpanLabels;
import io.molora.adapters.gate.RouterTraining;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.function.IntConsumer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Perplexity of a model, alone, with one adapter, with all adapters at once, or routed per token (llama.cpp's
 * {@code llama-perplexity}). A {@code .jsonl} file of eval records ({@code {"set", "text"}}, as the testbed writes
 * them) is scored record by record, per set: {@code [BOS] + tokens}, every token after BOS predicted from its prefix.
 * Any other file is scored by llama-perplexity's chunked protocol: {@code -c}-token chunks, second half scored.
 */
@Command(name = "perplexity", mixinStandardHelpOptions = true,
        description = {"Perplexity of the model, with --adapter NAME fixed, all --lora adapters at once, or routed per",
            "token (--router / --routes). .jsonl eval records are scored per set (BOS + tokens, every token after BOS",
            "predicted); other files as llama-perplexity does (-c-token chunks, the second half of each scored)."})
final class PerplexityCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    AdapterOptions adapters;

    @Option(names = {"-f", "--file"}, paramLabel = "FILE", required = true,
            description = "Text file, or .jsonl eval records (repeatable).")
    List<Path> files = new ArrayList<>();

    @Option(names = "--adapter", paramLabel = "NAME", description = "Score with this one --lora adapter on every token.")
    String adapter;

    @Option(names = "--span-routes", description = {"Route each token to the adapter named by its label: the domain of its",
            "span (records with \"spans\") or the record's set (the span-label oracle)."})
    boolean spanRoutes;

    @Option(names = "--no-base-pass", description = {"With a token+hidden --router: no base pass for hidden states (N work;",
            "the gate sees no previous state)."})
    boolean noBasePass;

    @Option(names = "--token-nll", description = "With --json: each record's per-token NLL too.")
    boolean tokenNll;

    @Option(names = "--json", description = "JSON on stdout instead of the table (with each record's NLL).")
    boolean json;

    /** What one file or eval set scored. */
    private record Result(String name, Perplexity.Score score, long decoded, double[][] tokenNll, int tokenizerMismatches,
            Double labelAccuracy) {}

    @Override
    public Integer call() throws IOException {
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (adapters.showRoutes) {
            throw new ParameterException(spec.commandLine(), "--show-routes is for generate, chat and complete");
        }
        List<AdapterSpec> specs = adapters.specs(spec.commandLine());
        int routings = (adapter != null ? 1 : 0) + (adapters.router != null ? 1 : 0) + (adapters.routes != null ? 1 : 0)
                + (spanRoutes ? 1 : 0);
        if (routings > 1) {
            throw new ParameterException(spec.commandLine(),
                    "give one of --adapter NAME, --router FILE, --routes FILE and --span-routes");
        }
        if (routings == 1 && specs.isEmpty()) {
            throw new ParameterException(spec.commandLine(),
                    "--adapter, --router, --routes and --span-routes need the adapters (--lora NAME=PATH)");
        }
        if (noBasePass && adapters.router == null) {
            throw new ParameterException(spec.commandLine(), "--no-base-pass is for a token+hidden --router");
        }
        if (adapters.router != null && adapters.routes != null) {
            throw new ParameterException(spec.commandLine(), "give --routes (vocabulary) or --router (learned), not both");
        }
        if (adapter != null && specs.stream().noneMatch(s -> s.name().equals(adapter))) {
            throw new ParameterException(spec.commandLine(), "--adapter " + adapter + " is not one of the --lora names "
                    + specs.stream().map(AdapterSpec::name).toList());
        }
        for (Path f : files) {
            if (!Files.isRegularFile(f) || !Files.isReadable(f)) {
                throw new ParameterException(spec.commandLine(), "-f " + f + ": not a readable file");
            }
        }
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        List<Result> results = new ArrayList<>();
        String routing;
        try (Model m = ModelFiles.load(model, specs);
             AdapterSet set = specs.isEmpty() ? null : AdapterSet.load(m, specs)) {
            List<AutoCloseable> resources = new ArrayList<>();
            try {
                Router router = adapters.tokenRouter(m, set, resources);
                RouterCorpus.HiddenSource hidden = resources.stream().filter(r -> r instanceof RouterCorpus.Learned)
                        .map(r -> ((RouterCorpus.Learned) r).hidden()).findFirst().orElse(null);
                routing = set == null ? "base" : adapter != null ? "adapter " + adapter
                        : adapters.router != null ? "learned router " + adapters.router.getFileName()
                        : adapters.routes != null ? "vocabulary router " + adapters.routes.getFileName()
                        : spanRoutes ? "span labels"
                        : "all adapters at once " + set.names();
                for (Path f : files) {
                    if (spanRoutes && !f.getFileName().toString().endsWith(".jsonl")) {
                        throw new LlamaException(f + ": --span-routes scores .jsonl eval records only");
                    }
                    if (f.getFileName().toString().endsWith(".jsonl")) {
                        results.addAll(scoreRecords(m, set, router, hidden, f, err));
                    } else {
                        if (hidden != null) {
                            throw new LlamaException("a token+hidden router scores .jsonl records only (it needs a base "
                                    + "pass over each record's tokens)");
                        }
                        results.add(scoreChunks(m, set, router, f, err));
                    }
                }
            } finally {
                for (AutoCloseable r : resources) {
                    try {
                        r.close();
                    } catch (Exception e) {
                        err.println("molora: closing " + r + ": " + e.getMessage());
                    }
                }
            }
        }
        print(out, routing, results);
        return 0;
    }

    /** A context for {@code sequences} sequences of up to {@code length} tokens in one decode. */
    private Context context(Model m, int sequences, int length, boolean embeddings) {
        ContextParams p = model.contextParams();
        int batch = Math.max(length, Math.min(p.batchSize(), sequences * length));
        int seqs = Math.max(1, Math.min(Math.min(sequences, 256), batch / length));
        return Context.create(m, p.withContextSize(seqs * length).withBatch(batch, Math.min(p.ubatchSize(), batch))
                .withMaxSequences(seqs).withEmbeddings(embeddings));
    }

    /** The decoder for this command's routing: the router's, one adapter fixed, all adapters, or none. */
    private Decoder decoder(Context ctx, AdapterSet set, Router router, List<AutoCloseable> closeLater) {
        if (router != null) {
            var d = set.decoder(ctx, router);
            closeLater.add(d);
            return d;
        }
        if (set != null) {
            if (adapter != null) {
                int a = set.index(adapter);
                ctx.setAdapters(List.of(set.adapters().get(a)), new float[] {set.scales()[a]});
            } else {
                ctx.setAdapters(set.adapters(), set.scales());
            }
        }
        return Decoder.plain(ctx);
    }

    /** One eval record: its tokens, and each token's adapter label when the record has one (spans, or its set). */
    private record Record(int[] ids, int[] labels) {}

    private List<Result> scoreRecords(Model m, AdapterSet set, Router router, RouterCorpus.HiddenSource hidden, Path f,
            PrintWriter err) throws IOException {
        ObjectMapper mapper = new ObjectMapper();
        Tokenizer tok = m.tokenizer();
        List<String> names = set == null ? List.of() : set.names();
        Map<String, List<Record>> bySet = new LinkedHashMap<>();
        Map<String, Integer> mismatches = new LinkedHashMap<>();
        int line = 0;
        for (String s : Files.readAllLines(f, StandardCharsets.UTF_8)) {
            line++;
            if (s.isBlank()) {
                continue;
            }
            JsonNode r;
            try {
                r = mapper.readTree(s);
            } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                throw new LlamaException(f + ":" + line + ": not a JSON object (" + e.getOriginalMessage() + ")");
            }
            if (r == null || !r.isObject() || !r.path("text").isTextual()) {
                throw new LlamaException(f + ":" + line + ": an eval record needs a \"text\" string");
            }
            String name = r.path("set").asText(f.getFileName().toString());
            String text = r.get("text").asText();
            int[] ids = tok.tokenize(text, true, false);
            if (r.path("ids").isArray() && !sameIds(r.get("ids"), ids)) {
                mismatches.merge(name, 1, Integer::sum);
            }
            if (ids.length >= 2) {
                bySet.computeIfAbsent(name, k -> new ArrayList<>()).add(new Record(ids, labels(f, line, r, tok, ids,
                        text, name, names)));
            }
        }
        if (bySet.isEmpty()) {
            throw new LlamaException(f + ": no eval records of two tokens or more");
        }
        if (spanRoutes && bySet.values().stream().flatMap(List::stream).anyMatch(r -> r.labels() == null)) {
            throw new LlamaException(f + ": --span-routes needs every record labelled: \"spans\", or a \"set\" named "
                    + "like an adapter " + names);
        }
        List<Result> results = new ArrayList<>();
        for (var e : bySet.entrySet()) {
            List<Record> recs = e.getValue();
            List<int[]> records = recs.stream().map(Record::ids).toList();
            int longest = records.stream().mapToInt(r -> r.length).max().orElse(2);
            long decoded = records.stream().mapToLong(r -> r.length).sum();
            // token+hidden routers: a base pass first (2N), its states fed to the gate as the records are decoded
            float[][][] states = hidden == null || noBasePass ? null : RouterTraining.hiddenStates(m, records);
            int[] first = {0};  // the record on sequence 0 of the decode under way
            if (hidden != null) {
                hidden.source = states == null ? (seq, pos) -> null : (seq, pos) -> states[first[0] + seq][pos];
            }
            Router chosen = !spanRoutes ? router : (batch, routes) -> {
                for (int i = 0, n = batch.size(); i < n; i++) {
                    routes.set(i, recs.get(first[0] + batch.sequence(i)).labels()[batch.position(i)], 1f);
                }
            };
            long[] agree = {0, 0};  // tokens routed to their label, tokens with a label
            List<AutoCloseable> closeLater = new ArrayList<>();
            long start = System.nanoTime();
            double[][] nll;
            try (Context ctx = context(m, records.size(), longest, false);
                 ProgressBar bar = progress(e.getKey(), records.size(), err)) {
                Decoder d = decoder(ctx, set, chosen, closeLater);
                if (d instanceof RoutedDecoder routed) {
                    d = batch -> {
                        routed.decode(batch);
                        RouteTable routes = routed.lastRoutes();
                        for (int i = 0, n = batch.size(); i < n; i++) {
                            int[] labels = recs.get(first[0] + batch.sequence(i)).labels();
                            if (labels != null && batch.position(i) > 0) {
                                agree[0] += routes.adapter(i, 0) == labels[batch.position(i)] ? 1 : 0;
                                agree[1]++;
                            }
                        }
                    };
                }
                nll = Perplexity.tokenNll(ctx, d, records, q -> first[0] = q, bar == null ? n -> { } : bar::stepTo);
            } finally {
                closeAll(closeLater);
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double sum = 0;
            long predicted = 0;
            for (double[] r : nll) {
                for (double v : r) {
                    sum += v;
                }
                predicted += r.length;
            }
            results.add(new Result(e.getKey(), new Perplexity.Score(sum, predicted, seconds), decoded, nll,
                    mismatches.getOrDefault(e.getKey(), 0), agree[1] == 0 ? null : (double) agree[0] / agree[1]));
        }
        return results;
    }

    /** A record's per-token adapter labels: from its "spans", else its set when an adapter has that name, else null. */
    private static int[] labels(Path f, int line, JsonNode r, Tokenizer tok, int[] ids, String text, String set,
            List<String> names) {
        if (r.path("spans").isArray()) {
            List<SpanLabels.Span> spans = new ArrayList<>();
            for (JsonNode s : r.get("spans")) {
                if (!s.isArray() || s.size() != 3 || !s.get(0).canConvertToInt() || !s.get(1).canConvertToInt()) {
                    throw new LlamaException(f + ":" + line + ": a span is [start, end, \"domain\"], got " + s);
                }
                spans.add(new SpanLabels.Span(s.get(0).asInt(), s.get(1).asInt(), s.get(2).asText()));
            }
            return SpanLabels.labels(tok, ids, text, spans, names);
        }
        return names.contains(set) ? SpanLabels.constant(ids.length, names.indexOf(set)) : null;
    }

    private Result scoreChunks(Model m, AdapterSet set, Router router, Path f, PrintWriter err) throws IOException {
        String text = Files.readString(f, StandardCharsets.UTF_8);
        Tokenizer tok = m.tokenizer();
        int[] tokens = tok.tokenize(text, true, false);
        int nCtx = model.contextSize > 0 ? model.contextSize : m.contextLengthTrained();
        boolean addBos = tokens.length > 0 && tokens[0] == tok.bos();
        int chunks = tokens.length / nCtx;
        List<AutoCloseable> closeLater = new ArrayList<>();
        Perplexity.Score score;
        // llama-perplexity decodes n_batch / n_ctx chunks at once as separate sequences
        try (Context ctx = context(m, Math.max(1, model.batchSize / nCtx), nCtx, false);
             ProgressBar bar = progress(f.getFileName().toString(), chunks, err)) {
            Decoder d = decoder(ctx, set, router, closeLater);
            score = Perplexity.chunks(ctx, d, tokens, nCtx, tok.bos(), addBos, bar == null ? n -> { } : bar::stepTo);
        } catch (IllegalArgumentException e) {
            throw new LlamaException(f + ": " + e.getMessage());
        } finally {
            closeAll(closeLater);
        }
        return new Result(f.getFileName().toString(), score, (long) chunks * nCtx, null, 0, null);
    }

    private static boolean sameIds(JsonNode expected, int[] ids) {
        if (expected.size() != ids.length) {
            return false;
        }
        for (int i = 0; i < ids.length; i++) {
            if (expected.get(i).asInt() != ids[i]) {
                return false;
            }
        }
        return true;
    }

    /** A progress bar on stderr when it is a terminal and the work is long enough to watch; null otherwise. */
    private static ProgressBar progress(String task, int total, PrintWriter err) {
        if (System.console() == null || total < 8) {
            return null;
        }
        return new ProgressBarBuilder().setTaskName(task).setInitialMax(total).showSpeed()
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
    }

    private static void closeAll(List<AutoCloseable> resources) {
        for (AutoCloseable r : resources) {
            try {
                r.close();
            } catch (Exception e) {
                throw new IllegalStateException("closing " + r + ": " + e.getMessage(), e);
            }
        }
    }

    private void print(PrintWriter out, String routing, List<Result> results) throws IOException {
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode o = mapper.createObjectNode();
            o.put("model", model.model.toString());
            o.put("routing", routing);
            ObjectNode sets = o.putObject("sets");
            for (Result r : results) {
                ObjectNode s = sets.putObject(r.name());
                s.put("perplexity", r.score().perplexity());
                s.put("nll_per_token", r.score().nllPerToken());
                s.put("tokens_scored", r.score().tokens());
                s.put("tokens_decoded", r.decoded());
                s.put("seconds", r.score().seconds());
                s.put("tokens_per_second", r.score().tokensPerSecond(r.decoded()));
                if (r.labelAccuracy() != null) {
                    s.put("label_accuracy", r.labelAccuracy());
                }
                if (r.tokenNll() != null) {
                    s.put("tokenizer_mismatches", r.tokenizerMismatches());
                    ArrayNode a = s.putArray("record_nll");
                    ArrayNode t = tokenNll ? s.putArray("token_nll") : null;
                    for (double[] rec : r.tokenNll()) {
                        a.add(java.util.Arrays.stream(rec).sum());
                        if (t != null) {
                            ArrayNode row = t.addArray();
                            for (double v : rec) {
                                row.add(v);
                            }
                        }
                    }
                }
            }
            out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(o));
        } else {
            out.println("routing: " + routing);
            out.printf("%-24s %12s %10s %10s %10s %10s%n", "set", "perplexity", "nll/token", "tokens", "tok/s",
                    "on label");
            for (Result r : results) {
                out.printf("%-24s %12.4f %10.4f %10d %10.1f %10s%n", r.name(), r.score().perplexity(),
                        r.score().nllPerToken(), r.score().tokens(), r.score().tokensPerSecond(r.decoded()),
                        r.labelAccuracy() == null ? "" : String.format("%.1f%%", 100 * r.labelAccuracy()));
                if (r.tokenizerMismatches() > 0) {
                    out.printf("  (%d records' \"ids\" differ from this model's tokenization of their text)%n",
                            r.tokenizerMismatches());
                }
            }
        }
        out.flush();
    }
}
