package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.GateTrainer;
import io.molora.engine.Corpus;
import io.molora.engine.Engine;
import io.molora.engine.OutputFile;
import io.molora.engine.RouterSpec;
import io.molora.engine.RouterTrainingSettings;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
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

    @Mixin
    CorpusOptions corpus;

    @Option(names = "--lora", paramLabel = "NAME=PATH", required = true, description = "An adapter to route to (repeatable).")
    List<String> lora = new ArrayList<>();

    @Option(names = {"-o", "--output"}, paramLabel = "FILE", required = true, description = "Router file to write "
            + "(an existing file is replaced only if it is a router file, or with --force; never an input).")
    Path output;

    @Option(names = "--force", description = "Replace an existing -o that is not a router file (never an input, a "
            + "directory or a device).")
    boolean force;

    @Option(names = "--hidden", defaultValue = "32", converter = OptionRanges.HiddenUnits.class, description = "Hidden units, 0 = linear gate (default: ${DEFAULT-VALUE}).")
    int hidden;

    @Option(names = "--epochs", defaultValue = "20", converter = OptionRanges.Epochs.class, description = "Epochs (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--lr", defaultValue = "0.01", converter = OptionRanges.LearningRate.class, description = "Adam learning rate (default: ${DEFAULT-VALUE}).")
    float lr;

    @Option(names = "--seed", defaultValue = "42", description = "Seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--features", defaultValue = "token", description = "Gate features: token (the token's "
            + "embedding; no extra pass), token+hidden (plus the previous position's final hidden state; one base pass "
            + "over the corpus at training time), or request (one adapter per request, from the mean of the final "
            + "hidden states over its prompt, as TT-LoRA MoE's router; labelled corpora only) (default: ${DEFAULT-VALUE}).")
    String features;

    @Option(names = "--objective", paramLabel = "oracle|expected-loss|mixture", defaultValue = "oracle",
            description = "What the gate learns from a mixed corpus: oracle (cross-entropy against each token's best "
                    + "choice), expected-loss (the expected loss of its choice, from every choice's loss: ties cost "
                    + "nothing, wide gaps their width) or mixture (the likelihood of its mixture of the choices' "
                    + "predictions). Labelled corpora: oracle only (default: ${DEFAULT-VALUE}).")
    String objective;

    @Option(names = "--switch-bonus", paramLabel = "B", defaultValue = "0", converter = OptionRanges.SwitchBonus.class,
            description = "Saved with the router: how much its gate must prefer another adapter to switch from the "
                    + "previous token's (0 = every token alone; --router-switch-bonus overrides it) (default: ${DEFAULT-VALUE}).")
    double switchBonus;

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        model.require(cmd);
        RouterTrainingSettings.Features kind = switch (features) {
            case "token" -> RouterTrainingSettings.Features.TOKEN;
            case "token+hidden" -> RouterTrainingSettings.Features.TOKEN_HIDDEN;
            case "request" -> RouterTrainingSettings.Features.REQUEST;
            default -> throw new ParameterException(cmd, "--features is token, token+hidden or request, got '"
                    + features + "'");
        };
        GateTrainer.Objective goal = switch (objective) {
            case "oracle" -> GateTrainer.Objective.ORACLE;
            case "expected-loss" -> GateTrainer.Objective.EXPECTED_LOSS;
            case "mixture" -> GateTrainer.Objective.MIXTURE;
            default -> throw new ParameterException(cmd, "--objective is oracle, expected-loss or mixture, got '"
                    + objective + "'");
        };
        Corpus source = corpus.corpus(cmd);
        if (goal != GateTrainer.Objective.ORACLE && !(source instanceof Corpus.Mixed)) {
            throw new ParameterException(cmd, "--objective " + objective + " learns from each choice's loss on a mixed "
                    + "corpus (--corpus); labelled domains give targets, not losses");
        }
        if (kind == RouterTrainingSettings.Features.REQUEST && !(source instanceof Corpus.Labelled)) {
            throw new ParameterException(cmd, "--features request learns one adapter per text: give labelled "
                    + "corpora (--domain NAME=PATH, one per adapter), not --corpus");
        }
        List<AdapterSpec> specs = AdapterOptions.parse(lora, List.of());
        RouterTrainingSettings settings;
        try {
            settings = new RouterTrainingSettings(hidden, epochs, lr, seed, kind, corpus.seqLen, goal,
                    (float) switchBonus, Optional.of(CacheDir.resolve("router-passes")));
        } catch (IllegalArgumentException e) {
            throw new ParameterException(cmd, e.getMessage());
        }
        // the output is checked before the model is opened: a refused -o costs no training run
        List<Path> inputs = new ArrayList<>(List.of(model.model));
        specs.forEach(a -> inputs.add(a.path()));
        inputs.addAll(source.sources());
        OutputFile.Target target = OutputFile.check(output, OutputFile.ROUTER, inputs, force);
        PrintWriter err = cmd.getErr();
        try (Engine engine = model.open(specs, new RouterSpec.Base())) {
            double accuracy = engine.trainRouter(source, settings, target, msg -> {
                err.println("molora: " + msg);
                err.flush();
            });
            cmd.getOut().printf("wrote %s (training accuracy %.3f)%n", output, accuracy);
            cmd.getOut().flush();
        }
        return 0;
    }
}
