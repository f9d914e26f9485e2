package io.molora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSpec;
import io.molora.engine.Corpus;
import io.molora.engine.Engine;
import io.molora.engine.RouterEvaluation;
import io.molora.engine.RouterSpec;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Evaluates a learned router on a held-out corpus: perplexities and per-token routing accuracy. */
@Command(name = "eval-router", mixinStandardHelpOptions = true,
        description = {"Evaluate a learned router on a held-out corpus: perplexity of base, each adapter, the best",
            "single adapter per sequence, the learned per-token router and the per-token oracle, and routing",
            "accuracy against the oracle (and against labels with --domain)."})
final class EvalRouterCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    CorpusOptions corpus;

    @Option(names = "--lora", paramLabel = "NAME=PATH", required = true, description = "The router's adapters, in order.")
    List<String> lora = new ArrayList<>();

    @Option(names = "--router", paramLabel = "FILE", required = true, description = "Router file (train-router).")
    Path router;

    @Option(names = "--json", description = "JSON on stdout instead of the table.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        model.require(cmd);
        Corpus source = corpus.corpus(cmd);
        List<AdapterSpec> specs = AdapterOptions.parse(lora, List.of());
        PrintWriter out = cmd.getOut();
        PrintWriter err = cmd.getErr();
        RouterEvaluation e;
        try (Engine engine = model.open(specs, new RouterSpec.Base())) {
            e = engine.evaluateRouter(router, source, corpus.seqLen, msg -> {
                err.println("molora: " + msg);
                err.flush();
            });
        }
        String features = e.features().fileName();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode o = mapper.createObjectNode();
            o.put("tokens", e.tokens());
            o.put("features", features);
            o.put("routed_pass_seconds", e.routedSeconds());
            e.basePassSeconds().ifPresent(s -> o.put("base_pass_seconds", s));
            ObjectNode p = o.putObject("perplexity");
            e.perplexity().forEach(p::put);
            o.put("routing_accuracy_vs_oracle", e.accuracyVsOracle());
            e.accuracyVsLabels().ifPresent(a -> o.put("routing_accuracy_vs_labels", a));
            out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(o));
        } else {
            out.printf("%-36s %14s%n", "routing", "perplexity");
            e.perplexity().forEach((k, v) -> out.printf("%-36s %14.3f%n", k, v));
            out.printf("%nfeatures: %s; routed pass %.2f s%s%n", features, e.routedSeconds(), e.basePassSeconds().isPresent()
                    ? String.format(" + base pass for hidden states %.2f s (2N)", e.basePassSeconds().getAsDouble()) : "");
            out.printf("%ntokens: %d; routing accuracy vs oracle: %.3f%s%n", e.tokens(), e.accuracyVsOracle(),
                    e.accuracyVsLabels().isPresent()
                            ? String.format("; vs labels: %.3f", e.accuracyVsLabels().getAsDouble()) : "");
        }
        out.flush();
        return 0;
    }
}
