package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.GateTrainer;
import io.molora.adapters.gate.HiddenStates;
import io.molora.adapters.gate.LearnedRouter;
import io.molora.adapters.gate.RequestRouter;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.RouterTraining;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.Model;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.OptionalDouble;
import java.util.function.Consumer;

/** Training and evaluating learned routers over the engine's model and adapters ({@link Engine#trainRouter}). */
final class RouterJobs {
    private final Model model;
    private final AdapterSet adapters;
    private final Consumer<String> log;

    RouterJobs(Engine engine, Consumer<String> log) {
        this.model = engine.model();
        this.adapters = engine.adapters().orElseThrow(() ->
                new IllegalArgumentException("a router needs the adapters it routes to"));
        this.log = log;
    }

    /** Sequences of a corpus, and for a labelled one each sequence's adapter (NONE: the base model). */
    private record Text(List<int[]> sequences, List<Integer> labels) {}

    private Text read(Corpus corpus, int seqLen) throws IOException {
        List<int[]> seqs = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        switch (corpus) {
            case Corpus.Mixed m -> seqs.addAll(Corpus.sequences(model.tokenizer(), m.source(), seqLen));
            case Corpus.Labelled l -> {
                for (Corpus.Domain d : l.domains()) {
                    int a = adapters.index(d.adapter());
                    for (int[] s : Corpus.sequences(model.tokenizer(), d.source(), seqLen)) {
                        seqs.add(s);
                        labels.add(a);
                    }
                }
            }
        }
        return new Text(seqs, labels);
    }

    double train(Corpus corpus, RouterTrainingSettings settings, OutputFile.Target output) throws IOException {
        try (TokenEmbeddings emb = TokenEmbeddings.open(model.path())) {
            Text text = read(corpus, settings.seqLen());
            List<int[]> seqs = text.sequences();
            RouterTraining.Dataset data;
            if (settings.features() == RouterTrainingSettings.Features.REQUEST) {
                data = requestDataset(text);
            } else {
                int[][] targets;
                float[][][] lp = null;
                if (text.labels().isEmpty()) {  // a mixed corpus: targets from the per-token oracle
                    log.accept(seqs.size() + " sequences; scoring every token with base and each adapter");
                    lp = RouterPasses.logProbs(settings.passCache(), model, adapters, seqs, log);
                    targets = RouterTraining.oracleTargets(lp);
                } else {
                    if (settings.objective() != GateTrainer.Objective.ORACLE) {
                        throw new IllegalArgumentException("--objective " + settings.objective().name().toLowerCase()
                                .replace('_', '-') + " learns from each choice's loss: give a mixed corpus (--corpus), "
                                + "not labelled domains");
                    }
                    targets = RouterTraining.domainTargets(seqs,
                            text.labels().stream().mapToInt(Integer::intValue).toArray());
                }
                if (settings.features() == RouterTrainingSettings.Features.TOKEN_HIDDEN) {
                    log.accept("base pass for hidden states");
                    data = RouterTraining.datasetWithHidden(seqs, targets, lp, emb,
                            RouterTraining.hiddenStates(model, seqs));
                } else {
                    data = RouterTraining.dataset(seqs, targets, lp, emb);
                }
            }
            log.accept("training a " + (settings.hidden() == 0 ? "linear" : settings.hidden() + "-unit") + " gate on "
                    + data.size() + (settings.features() == RouterTrainingSettings.Features.REQUEST ? " sequences, "
                    : " tokens, ") + data.inputs() + " features, " + (1 + adapters.size()) + " choices");
            Gate g = GateTrainer.train(data.x(), data.y(), data.losses(), settings.objective(), data.inputs(),
                    1 + adapters.size(), new GateTrainer.Options(settings.hidden(), settings.epochs(), 64,
                            settings.learningRate(), 1e-4f, settings.seed()),
                    e -> log.accept("epoch " + e + "/" + settings.epochs()));
            double accuracy = GateTrainer.accuracy(g, data.x(), data.y());
            RouterFile.Identity identity = RouterFile.identity(adapters.specs(), emb, settings.features().fileName());
            output.write(file -> RouterFile.save(file, g, identity, settings.switchBonus()));
            return accuracy;
        }
    }

    /**
     * Sequences as a request router sees prompts: starting with BOS (a corpus file's later chunks do not), so the mean
     * it is trained on is the mean it gets at run time.
     */
    private List<int[]> asRequests(List<int[]> sequences) {
        int bos = model.tokenizer().bos();
        List<int[]> out = new ArrayList<>(sequences.size());
        for (int[] s : sequences) {
            if (s.length > 0 && s[0] == bos) {
                out.add(s);
            } else {
                int[] t = new int[s.length + 1];
                t[0] = bos;
                System.arraycopy(s, 0, t, 1, s.length);
                out.add(t);
            }
        }
        return out;
    }

    /** One example per labelled sequence: the mean of its base-pass hidden states, its domain's adapter. */
    private RouterTraining.Dataset requestDataset(Text text) {
        if (text.labels().isEmpty()) {
            throw new IllegalArgumentException("a request router learns from labelled corpora (a domain per text), "
                    + "not from a mixed one");
        }
        log.accept("base pass for hidden states");
        float[][][] h = RouterTraining.hiddenStates(model, asRequests(text.sequences()));
        int n = h.length;
        int d = h[0][0].length;
        float[] x = new float[n * d];
        int[] y = new int[n];
        for (int s = 0; s < n; s++) {
            System.arraycopy(RequestRouter.features(h[s]), 0, x, s * d, d);
            y[s] = 1 + text.labels().get(s);
        }
        return new RouterTraining.Dataset(x, y, d);
    }

    RouterEvaluation evaluate(Path routerFile, Corpus corpus, int seqLen) throws IOException {
        try (TokenEmbeddings emb = TokenEmbeddings.open(model.path())) {
            Gate gate = RouterFile.load(routerFile, adapters.specs(), emb);
            RouterFile.Loaded file = RouterFile.read(routerFile);
            RouterTrainingSettings.Features features = RouterTrainingSettings.Features.of(file.identity().features());
            float bonus = file.switchBonus();
            if (features == RouterTrainingSettings.Features.REQUEST) {
                return evaluateRequest(new RequestRouter(gate, emb.dim()), read(corpus, seqLen));
            }
            boolean hiddenFeatures = features == RouterTrainingSettings.Features.TOKEN_HIDDEN;
            Text text = read(corpus, seqLen);
            List<int[]> seqs = text.sequences();
            List<Integer> labels = text.labels();
            float[][][] lp = RouterTraining.logProbs(model, adapters, seqs, log);
            int[][] oracle = RouterTraining.oracleTargets(lp);
            // hidden-state routers see the base pass's states of the text (2N); token routers need no pass
            long t0 = System.nanoTime();
            float[][][] hidden = hiddenFeatures ? RouterTraining.hiddenStates(model, seqs) : null;
            double basePassSeconds = (System.nanoTime() - t0) / 1e9;
            long t1 = System.nanoTime();
            LearnedRouter[] perSeq = new LearnedRouter[seqs.size()];
            LearnedRouter tokenRouter = hiddenFeatures ? null : new LearnedRouter(gate, emb, null, top1(), 1f, bonus);
            float[][] routed = new float[seqs.size()][];
            for (int s = 0; s < seqs.size(); s++) {
                perSeq[s] = hiddenFeatures ? new LearnedRouter(gate, emb, HiddenStates.of(new float[][][] {hidden[s]}),
                        top1(), 1f, bonus) : tokenRouter;
                routed[s] = RouterTraining.routedLogProbs(model, adapters, perSeq[s], List.of(seqs.get(s)))[0];
            }
            double routedSeconds = (System.nanoTime() - t1) / 1e9;
            Map<String, Double> ppl = RouterTraining.perplexities(lp, adapters.names(), routed);
            if (hiddenFeatures) {
                // N work: no base pass; inside one batch no token has its predecessor's state (the gate sees its mean)
                LearnedRouter noPass = new LearnedRouter(gate, emb, (s, p) -> null, top1(), 1f, bonus);
                ppl.put("learned-per-token (N: no base pass)",
                        RouterTraining.perplexity(RouterTraining.routedLogProbs(model, adapters, noPass, seqs)));
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
            return new RouterEvaluation(n, features, ppl, routedSeconds,
                    hiddenFeatures ? OptionalDouble.of(basePassSeconds) : OptionalDouble.empty(), (double) rightOracle / n,
                    labels.isEmpty() ? OptionalDouble.empty() : OptionalDouble.of((double) rightLabel / n));
        }
    }

    /**
     * A request router on each sequence as one request: the adapter it picks from the sequence's base pass serves all
     * the sequence's tokens, so its log-probabilities are that adapter's (no routed pass needed).
     */
    private RouterEvaluation evaluateRequest(RequestRouter router, Text text) {
        List<int[]> seqs = text.sequences();
        float[][][] lp = RouterTraining.logProbs(model, adapters, seqs, log);
        int[][] oracle = RouterTraining.oracleTargets(lp);
        long t0 = System.nanoTime();
        float[][][] hidden = RouterTraining.hiddenStates(model, asRequests(seqs));
        double basePassSeconds = (System.nanoTime() - t0) / 1e9;
        float[][] routed = new float[seqs.size()][];
        long n = 0;
        long rightOracle = 0;
        long rightLabel = 0;
        for (int s = 0; s < seqs.size(); s++) {
            int choice = router.decide(hidden[s]);
            routed[s] = lp[choice + 1][s];  // NONE = -1: the base model's row
            for (int p = 0; p < oracle[s].length; p++) {
                rightOracle += choice == oracle[s][p] - 1 ? 1 : 0;
                if (!text.labels().isEmpty()) {
                    rightLabel += choice == text.labels().get(s) ? 1 : 0;
                }
                n++;
            }
        }
        Map<String, Double> ppl = RouterTraining.perplexities(lp, adapters.names(), routed, "learned-per-request");
        return new RouterEvaluation(n, RouterTrainingSettings.Features.REQUEST, ppl, 0, OptionalDouble.of(basePassSeconds),
                (double) rightOracle / n,
                text.labels().isEmpty() ? OptionalDouble.empty() : OptionalDouble.of((double) rightLabel / n));
    }

    private static SoftTopK top1() {
        return RouterSpec.SoftTopK.TOP_1.create();
    }
}
