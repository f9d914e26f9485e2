package io.molora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSpec;
import io.molora.engine.Engine;
import io.molora.engine.ProgressReporter;
import io.molora.engine.RouterSpec;
import io.molora.engine.ScoringOptions;
import io.molora.engine.SetScore;
import io.molora.engine.TextFiles;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine;
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
            "token (--router / --routes / --span-routes). .jsonl eval records are scored per set (BOS + tokens, every token after BOS",
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

    @Override
    public Integer call() throws IOException {
        CommandLine cmd = spec.commandLine();
        model.require(cmd);
        if (adapters.showRoutes) {
            throw new ParameterException(cmd, "--show-routes is for generate, chat and complete");
        }
        List<AdapterSpec> specs = adapters.specs(cmd);
        Optional<RouterSpec> tokenRouter = adapters.tokenRouter(cmd);  // --router with --routes: as in every command
        int routings = (adapter != null ? 1 : 0) + (adapters.router != null ? 1 : 0) + (adapters.routes != null ? 1 : 0)
                + (spanRoutes ? 1 : 0);
        if (routings > 1) {
            throw new ParameterException(cmd, "give one of --adapter NAME, --router FILE, --routes FILE and --span-routes");
        }
        if (routings == 1 && specs.isEmpty()) {
            throw new ParameterException(cmd,
                    "--adapter, --router, --routes and --span-routes need the adapters (--lora NAME=PATH)");
        }
        if (noBasePass && adapters.router == null) {
            throw new ParameterException(cmd, "--no-base-pass is for a token+hidden --router");
        }
        if (adapter != null && specs.stream().noneMatch(s -> s.name().equals(adapter))) {
            throw new ParameterException(cmd, "--adapter " + adapter + " is not one of the --lora names "
                    + specs.stream().map(AdapterSpec::name).toList());
        }
        RouterSpec router = adapter != null ? new RouterSpec.Fixed(adapter) : spanRoutes ? new RouterSpec.Base()
                : tokenRouter.orElse(specs.isEmpty() ? new RouterSpec.Base() : new RouterSpec.AllAdapters());
        for (Path f : files) {
            if (!Files.isRegularFile(f) || !Files.isReadable(f)) {
                throw new ParameterException(cmd, "-f " + f + ": not a readable file");
            }
            if (!f.getFileName().toString().endsWith(".jsonl") && model.contextSize > 0 && model.contextSize < 3) {
                throw new ParameterException(cmd, "-c " + model.contextSize + " scores no token of " + f
                        + " (positions c/2 to c-2 of each chunk are scored, as llama-perplexity does): use -c 3 or more");
            }
        }
        List<SetScore> results = new ArrayList<>();
        String routing;
        try (Engine engine = model.open(specs, router)) {
            routing = spanRoutes ? "span labels" : engine.routing().describe();
            ProgressReporter progress = Progress::bar;
            for (Path f : files) {
                String name = f.getFileName().toString();
                if (spanRoutes && !name.endsWith(".jsonl")) {
                    throw new LlamaException(f + ": --span-routes scores .jsonl eval records only");
                }
                if (name.endsWith(".jsonl")) {
                    results.addAll(engine.perplexity(f.toString(), EvalRecords.read(f),
                            new ScoringOptions(spanRoutes, !noBasePass), progress));
                } else {
                    results.add(engine.perplexityOfText(f.toString(), name, TextFiles.read(f),
                            progress));
                }
            }
        }
        print(cmd.getOut(), routing, results);
        return 0;
    }

    private void print(PrintWriter out, String routing, List<SetScore> results) throws IOException {
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode o = mapper.createObjectNode();
            o.put("model", model.model.toString());
            o.put("routing", routing);
            ObjectNode sets = o.putObject("sets");
            for (SetScore r : results) {
                ObjectNode s = sets.putObject(r.name());
                s.put("perplexity", r.score().perplexity());
                s.put("nll_per_token", r.score().nllPerToken());
                s.put("tokens_scored", r.score().tokens());
                s.put("tokens_decoded", r.decoded());
                s.put("seconds", r.score().seconds());
                s.put("tokens_per_second", r.score().tokensPerSecond(r.decoded()));
                r.labelAccuracy().ifPresent(a -> s.put("label_accuracy", a));
                r.switchesPer100().ifPresent(a -> s.put("route_switches_per_100_tokens", a));
                if (r.tokenNll().isPresent()) {
                    s.put("tokenizer_mismatches", r.tokenizerMismatches());
                    ArrayNode a = s.putArray("record_nll");
                    ArrayNode t = tokenNll ? s.putArray("token_nll") : null;
                    for (double[] rec : r.tokenNll().get()) {
                        a.add(Arrays.stream(rec).sum());
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
            for (SetScore r : results) {
                out.printf("%-24s %12.4f %10.4f %10d %10.1f %10s%n", r.name(), r.score().perplexity(),
                        r.score().nllPerToken(), r.score().tokens(), r.score().tokensPerSecond(r.decoded()),
                        r.labelAccuracy().isPresent() ? String.format("%.1f%%", 100 * r.labelAccuracy().getAsDouble()) : "");
                if (r.tokenizerMismatches() > 0) {
                    out.printf("  (%d records' \"ids\" differ from this model's tokenization of their text)%n",
                            r.tokenizerMismatches());
                }
            }
        }
        out.flush();
    }
}
