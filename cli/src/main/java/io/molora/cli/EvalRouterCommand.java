package io.molora.cli;

import io.molora.engine.RouterSpec;
import io.molora.engine.Engine;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.HiddenStates;
import io.molora.adapters.gate.LearnedRouter;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.RouterTraining;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
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

    @Option(names = "--lora", paramLabel = "NAME=PATH", required = true, description = "The router's adapters, in order.")
    List<String> lora = new ArrayList<>();

    @Option(names = "--router", paramLabel = "FILE", required = true, description = "Router file (train-router).")
    Path router;

    @Option(names = "--corpus", paramLabel = "FILE|DIR", description = "Held-out mixed corpus.")
    Path corpus;

    @Option(names = "--domain", paramLabel = "NAME=DIR", description = "Held-out labelled corpus (repeatable).")
    List<String> domains = new ArrayList<>();

    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Option(names = "--json", description = "JSON on stdout instead of the table.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (domains.isEmpty() == (corpus == null)) {
            throw new ParameterException(spec.commandLine(), "give either --corpus FILE or --domain NAME=DIR ...");
        }
        List<AdapterSpec> specs = AdapterOptions.parse(lora, List.of());
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        try (Engine engine = model.open(specs, new RouterSpec.Base());
             TokenEmbeddings emb = TokenEmbeddings.open(engine.model().path())) {
            Model m = engine.model();
            AdapterSet set = engine.adapters().orElseThrow();
            var gate = RouterFile.load(router, specs, emb);
            boolean hiddenFeatures = RouterFile.read(router).identity().features()
                    .equals(RouterFile.FEATURES_TOKEN_HIDDEN);
            List<int[]> seqs = new ArrayList<>();
            List<Integer> labels = new ArrayList<>();
            if (corpus != null) {
                seqs = RouterCorpus.sequences(m.tokenizer(), corpus, seqLen);
            } else {
                for (String d : domains) {
                    int eq = d.indexOf('=');
                    int a = set.index(d.substring(0, eq));
                    for (int[] s : RouterCorpus.sequences(m.tokenizer(), Path.of(d.substring(eq + 1)), seqLen)) {
                        seqs.add(s);
                        labels.add(a);
                    }
                }
            }
            float[][][] lp = RouterTraining.logProbs(m, set, seqs, msg -> {
                err.println("molora: " + msg);
                err.flush();
            });
            int[][] oracle = RouterTraining.oracleTargets(lp);
            // hidden-state routers see the base pass's states of the text (2N); token routers need no pass
            long t0 = System.nanoTime();
            float[][][] hidden = hiddenFeatures ? RouterTraining.hiddenStates(m, seqs) : null;
            double basePassSeconds = (System.nanoTime() - t0) / 1e9;
            long t1 = System.nanoTime();
            LearnedRouter[] perSeq = new LearnedRouter[seqs.size()];
            LearnedRouter tokenRouter = hiddenFeatures ? null
                    : new LearnedRouter(gate, emb, new SoftTopK(1, 1f, 0f), 1f);
            float[][] routed = new float[seqs.size()][];
            for (int s = 0; s < seqs.size(); s++) {
                perSeq[s] = hiddenFeatures ? new LearnedRouter(gate, emb,
                        HiddenStates.of(new float[][][] {hidden[s]}), new SoftTopK(1, 1f, 0f), 1f) : tokenRouter;
                routed[s] = RouterTraining.routedLogProbs(m, set, perSeq[s], List.of(seqs.get(s)))[0];
            }
            double routedSeconds = (System.nanoTime() - t1) / 1e9;
            Map<String, Double> ppl = RouterTraining.perplexities(lp, set.names(), routed);
            if (hiddenFeatures) {
                // N work: no base pass; inside one batch no token has its predecessor's state (the gate sees its mean)
                LearnedRouter noPass = new LearnedRouter(gate, emb, (s, p) -> null, new SoftTopK(1, 1f, 0f), 1f);
                ppl.put("learned-per-token (N: no base pass)",
                        RouterTraining.perplexity(RouterTraining.routedLogProbs(m, set, noPass, seqs)));
            }
            long n = 0;
            long rightOracle = 0;
            long rightLabel = 0;
            for (int s = 0; s < seqs.size(); s++) {
                for (int p = 0; p < oracle[s].length; p++) {
                    int choice = perSeq[s].argmax(seqs.get(s)[p], 0, p);
                    rightOracle += choice == oracle[s][p] - 1 ? 1 : 0;
                    if (!labels.isEmpty()) {
                        rightLabel += choice == labels.get(s) ? 1 : 0;
                    }
                    n++;
                }
            }
            double accOracle = (double) rightOracle / n;
            Double accLabel = labels.isEmpty() ? null : (double) rightLabel / n;
            if (json) {
                ObjectMapper mapper = new ObjectMapper();
                ObjectNode o = mapper.createObjectNode();
                o.put("tokens", n);
                o.put("features", hiddenFeatures ? RouterFile.FEATURES_TOKEN_HIDDEN : RouterFile.FEATURES_TOKEN);
                o.put("routed_pass_seconds", routedSeconds);
                if (hiddenFeatures) {
                    o.put("base_pass_seconds", basePassSeconds);
                }
                ObjectNode p = o.putObject("perplexity");
                ppl.forEach(p::put);
                o.put("routing_accuracy_vs_oracle", accOracle);
                if (accLabel != null) {
                    o.put("routing_accuracy_vs_labels", accLabel);
                }
                out.println(mapper.writerWithDefaultPrettyPrinter().writeValueAsString(o));
            } else {
                out.printf("%-36s %14s%n", "routing", "perplexity");
                ppl.forEach((k, v) -> out.printf("%-36s %14.3f%n", k, v));
                out.printf("%nfeatures: %s; routed pass %.2f s%s%n", hiddenFeatures ? RouterFile.FEATURES_TOKEN_HIDDEN
                        : RouterFile.FEATURES_TOKEN, routedSeconds, hiddenFeatures
                        ? String.format(" + base pass for hidden states %.2f s (2N)", basePassSeconds) : "");
                out.printf("%ntokens: %d; routing accuracy vs oracle: %.3f%s%n", n, accOracle,
                        accLabel == null ? "" : String.format("; vs labels: %.3f", accLabel));
            }
            out.flush();
        }
        return 0;
    }
}
