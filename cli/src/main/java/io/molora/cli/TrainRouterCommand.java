package io.molora.cli;

import io.molora.engine.RouterSpec;
import io.molora.engine.Engine;
import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.GateTrainer;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.RouterTraining;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.runtime.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Trains a learned router (gate) in Java from labelled domain corpora or, without labels, from a mixed corpus. */
@Command(name = "train-router", mixinStandardHelpOptions = true,
        description = {"Train a learned per-token router over token-embedding features and save it as GGUF.",
            "Labelled: --domain NAME=DIR (NAME an adapter or 'none'; every token of DIR's files goes to NAME).",
            "Unlabelled: --corpus FILE|DIR (each token's target is the choice giving its next token the lowest loss;",
            "runs the corpus once per adapter and once without)."})
final class TrainRouterCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--lora", paramLabel = "NAME=PATH", required = true, description = "An adapter to route to (repeatable).")
    List<String> lora = new ArrayList<>();

    @Option(names = "--domain", paramLabel = "NAME=DIR", description = "Labelled corpus of one adapter (repeatable).")
    List<String> domains = new ArrayList<>();

    @Option(names = "--corpus", paramLabel = "FILE|DIR", description = "Mixed corpus without labels.")
    Path corpus;

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "Router file to write.")
    Path output;

    @Option(names = "--hidden", defaultValue = "32", description = "Hidden units, 0 = linear gate (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--epochs", defaultValue = "20", description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--lr", defaultValue = "0.01", description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--seed", defaultValue = "42", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--features", defaultValue = "token", description = "Gate features: token (the token's "
            + "embedding; no extra pass) or token+hidden (plus the previous position's final hidden state; one base pass "
            + "over the corpus at training time) (default: ${DEFAULT-VALUE}).")
    String features;

    @Option(names = "--seq-len", defaultValue = "256", description = "Tokens per training sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    @Override
    public Integer call() throws Exception {
        if (model.model == null) {
            throw new ParameterException(spec.commandLine(), "Missing required option: '--model=FILE'");
        }
        if (!features.equals("token") && !features.equals("token+hidden")) {
            throw new ParameterException(spec.commandLine(), "--features is token or token+hidden, got '" + features + "'");
        }
        if (domains.isEmpty() == (corpus == null)) {
            throw new ParameterException(spec.commandLine(), "give either --domain NAME=DIR ... or --corpus FILE");
        }
        List<AdapterSpec> specs = AdapterOptions.parse(lora, List.of());
        PrintWriter err = spec.commandLine().getErr();
        try (Engine engine = model.open(specs, new RouterSpec.Base());
             TokenEmbeddings emb = TokenEmbeddings.open(engine.model().path())) {
            Model m = engine.model();
            AdapterSet set = engine.adapters().orElseThrow();
            List<int[]> seqs = new ArrayList<>();
            int[][] targets;
            if (corpus != null) {
                seqs = RouterCorpus.sequences(m.tokenizer(), corpus, seqLen);
                err.println("molora: " + seqs.size() + " sequences; scoring every token with base and each adapter");
                err.flush();
                float[][][] lp = RouterTraining.logProbs(m, set, seqs, msg -> {
                    err.println("molora: " + msg);
                    err.flush();
                });
                targets = RouterTraining.oracleTargets(lp);
            } else {
                List<Integer> adapterOf = new ArrayList<>();
                for (String d : domains) {
                    int eq = d.indexOf('=');
                    if (eq <= 0) {
                        throw new ParameterException(spec.commandLine(), "expected --domain NAME=DIR, got '" + d + "'");
                    }
                    int a = set.index(d.substring(0, eq));
                    for (int[] s : RouterCorpus.sequences(m.tokenizer(), Path.of(d.substring(eq + 1)), seqLen)) {
                        seqs.add(s);
                        adapterOf.add(a);
                    }
                }
                targets = RouterTraining.domainTargets(seqs, adapterOf.stream().mapToInt(Integer::intValue).toArray());
            }
            boolean hiddenFeatures = features.equals("token+hidden");
            RouterTraining.Dataset data;
            if (hiddenFeatures) {
                err.println("molora: base pass for hidden states");
                err.flush();
                data = RouterTraining.datasetWithHidden(seqs, targets, emb, RouterTraining.hiddenStates(m, seqs));
            } else {
                data = RouterTraining.dataset(seqs, targets, emb);
            }
            err.println("molora: training a " + (hidden == 0 ? "linear" : hidden + "-unit") + " gate on " + data.size()
                    + " tokens, " + data.inputs() + " features, " + (1 + set.size()) + " choices");
            err.flush();
            Gate g = GateTrainer.train(data.x(), data.y(), data.inputs(), 1 + set.size(),
                    new GateTrainer.Options(hidden, epochs, 64, lr, 1e-4f, seed), e -> {
                        err.printf("molora: epoch %d/%d%n", e, epochs);
                        err.flush();
                    });
            double acc = GateTrainer.accuracy(g, data.x(), data.y());
            RouterFile.save(output, g, RouterFile.identity(specs, emb,
                    hiddenFeatures ? RouterFile.FEATURES_TOKEN_HIDDEN : RouterFile.FEATURES_TOKEN));
            spec.commandLine().getOut().printf("wrote %s (training accuracy %.3f)%n", output, acc);
            spec.commandLine().getOut().flush();
        }
        return 0;
    }
}
