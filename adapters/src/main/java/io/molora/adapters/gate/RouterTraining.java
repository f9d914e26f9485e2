package io.molora.adapters.gate;

import io.molora.adapters.AdapterSet;
import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.TokenLogprobs;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Training data and evaluation for learned routers.
 *
 * <p><b>Targets without labels</b> (the MoLoRA recipe): run the corpus once with no adapter and once with each
 * adapter alone; the target of the token at position p is the choice (none or an adapter) that gives token p+1 the
 * highest probability. (Each pass keeps one route for the whole sequence, so earlier tokens' states are those of that
 * route — the usual per-token oracle approximation.) <b>Labelled corpora</b>: every token of a domain's text is
 * labelled with that domain's adapter.
 */
public final class RouterTraining {
    private RouterTraining() {}

    /**
     * Features ({@code inputs} floats per example), targets (0 = none, 1 + a = adapter a) and, from an unlabelled
     * corpus, each example's loss under each choice ({@code losses[e * choices + c]}: the negative log-likelihood of
     * its next token; null for labelled corpora).
     */
    public record Dataset(float[] x, int[] y, int inputs, float[] losses) {
        public Dataset(float[] x, int[] y, int inputs) {
            this(x, y, inputs, null);
        }

        public int size() {
            return y.length;
        }
    }

    /** Each choice's loss at each example position, as the datasets lay them out; null without log-probabilities. */
    private static float[] losses(float[][][] logProbs, int[][] targets, int first) {
        if (logProbs == null) {
            return null;
        }
        int k = logProbs.length;
        int n = 0;
        for (int[] t : targets) {
            n += Math.max(0, t.length - first);
        }
        float[] l = new float[n * k];
        int e = 0;
        for (int s = 0; s < targets.length; s++) {
            for (int p = first; p < targets[s].length; p++, e++) {
                for (int c = 0; c < k; c++) {
                    l[e * k + c] = -logProbs[c][s][p];
                }
            }
        }
        return l;
    }

    /**
     * {@code logProbs[c][s][p]}: log-probability of token p+1 of sequence s after the prefix up to p, decoded with
     * choice c (0 = no adapter, 1 + a = adapter a alone at its scale) on every token.
     */
    public static float[][][] logProbs(Model model, AdapterSet set, List<int[]> sequences, Consumer<String> progress) {
        int choices = 1 + set.size();
        float[][][] lp = new float[choices][][];
        float[] scales = set.scales();
        for (int c = 0; c < choices; c++) {
            List<LoraAdapter> active = c == 0 ? List.of() : List.of(set.adapters().get(c - 1));
            float[] s = c == 0 ? new float[0] : new float[] {scales[c - 1]};
            lp[c] = new float[sequences.size()][];
            try (Context ctx = context(model, sequences)) {
                ctx.setAdapters(active, s);
                for (int q = 0; q < sequences.size(); q++) {
                    lp[c][q] = sequenceLogProbs(ctx, Decoder.plain(ctx), sequences.get(q));
                }
            }
            progress.accept("pass " + (c + 1) + "/" + choices + " (" + (c == 0 ? "base" : set.names().get(c - 1))
                    + ") done");
        }
        return lp;
    }

    /** Log-probabilities of each next token when every token is routed by {@code router}. */
    public static float[][] routedLogProbs(Model model, AdapterSet set, Router router, List<int[]> sequences) {
        float[][] lp = new float[sequences.size()][];
        for (int q = 0; q < sequences.size(); q++) {
            try (Context ctx = context(model, sequences); RoutedDecoder d = set.decoder(ctx, router)) {
                lp[q] = sequenceLogProbs(ctx, d, sequences.get(q));
            }
        }
        return lp;
    }

    private static Context context(Model model, List<int[]> sequences) {
        int longest = sequences.stream().mapToInt(s -> s.length).max().orElse(1);
        return Context.create(model, ContextParams.defaults().withContextSize(Math.max(64, longest))
                .withBatch(longest, longest));
    }

    /** One sequence from position 0 (the KV cache is cleared first), every token an output. */
    private static float[] sequenceLogProbs(Context ctx, Decoder decoder, int[] tokens) {
        ctx.clearMemory();
        float[] lp = new float[tokens.length - 1];
        try (Batch b = new Batch(tokens.length)) {
            for (int i = 0; i < tokens.length; i++) {
                b.add(tokens[i], i, 0, i < tokens.length - 1);
            }
            decoder.decode(b);
            for (int i = 0; i < tokens.length - 1; i++) {
                lp[i] = (float) TokenLogprobs.logSoftmaxAt(ctx.logitsView(i), tokens[i + 1]);
            }
        }
        return lp;
    }

    /** The oracle target of every position but the last: argmax over choices of {@code logProbs[c][s][p]}. */
    public static int[][] oracleTargets(float[][][] logProbs) {
        int seqs = logProbs[0].length;
        int[][] y = new int[seqs][];
        for (int s = 0; s < seqs; s++) {
            int n = logProbs[0][s].length;
            y[s] = new int[n];
            for (int p = 0; p < n; p++) {
                int best = 0;
                for (int c = 1; c < logProbs.length; c++) {
                    if (logProbs[c][s][p] > logProbs[best][s][p]) {
                        best = c;
                    }
                }
                y[s][p] = best;
            }
        }
        return y;
    }

    /** Token-embedding features of each position that has a target ({@code targets[s].length} per sequence). */
    public static Dataset dataset(List<int[]> sequences, int[][] targets, TokenEmbeddings emb) {
        return dataset(sequences, targets, null, emb);
    }

    /** As {@link #dataset(List, int[][], TokenEmbeddings)}, with each choice's loss from {@code logProbs} (or null). */
    public static Dataset dataset(List<int[]> sequences, int[][] targets, float[][][] logProbs, TokenEmbeddings emb) {
        int n = 0;
        for (int[] t : targets) {
            n += t.length;
        }
        float[] x = new float[n * emb.dim()];
        int[] y = new int[n];
        int e = 0;
        for (int s = 0; s < sequences.size(); s++) {
            for (int p = 0; p < targets[s].length; p++) {
                emb.row(sequences.get(s)[p], x, e * emb.dim());
                y[e++] = targets[s][p];
            }
        }
        return new Dataset(x, y, emb.dim(), losses(logProbs, targets, 0));
    }

    /**
     * The base model's final hidden state at every position of each sequence ({@code [s][p][n_embd]}): one base pass
     * with embeddings on (the "2N work" of hidden-state features for text given in advance).
     */
    public static float[][][] hiddenStates(Model model, List<int[]> sequences) {
        float[][][] h = new float[sequences.size()][][];
        try (BasePass pass = new BasePass(model, ContextParams.defaults())) {
            pass.reserve(sequences.stream().mapToInt(s -> s.length).max().orElse(1));
            for (int q = 0; q < sequences.size(); q++) {
                h[q] = pass.states(sequences.get(q));
            }
        }
        return h;
    }

    /**
     * Token embedding of position p followed by the hidden state of p-1 (position 0 is left out: it has no
     * predecessor), for each position with a target.
     */
    public static Dataset datasetWithHidden(List<int[]> sequences, int[][] targets, TokenEmbeddings emb,
            float[][][] hidden) {
        return datasetWithHidden(sequences, targets, null, emb, hidden);
    }

    /** As {@link #datasetWithHidden(List, int[][], TokenEmbeddings, float[][][])}, with each choice's loss (or null). */
    public static Dataset datasetWithHidden(List<int[]> sequences, int[][] targets, float[][][] logProbs,
            TokenEmbeddings emb, float[][][] hidden) {
        int hd = hidden[0][0].length;
        int inputs = emb.dim() + hd;
        int n = 0;
        for (int[] t : targets) {
            n += Math.max(0, t.length - 1);
        }
        float[] x = new float[n * inputs];
        int[] y = new int[n];
        int e = 0;
        for (int s = 0; s < sequences.size(); s++) {
            for (int p = 1; p < targets[s].length; p++) {
                emb.row(sequences.get(s)[p], x, e * inputs);
                System.arraycopy(hidden[s][p - 1], 0, x, e * inputs + emb.dim(), hd);
                y[e++] = targets[s][p];
            }
        }
        return new Dataset(x, y, inputs, losses(logProbs, targets, 1));
    }

    /** Labelled corpora: every token of sequence s gets target {@code 1 + adapterOf[s]} (or 0 for NONE = -1). */
    public static int[][] domainTargets(List<int[]> sequences, int[] adapterOf) {
        int[][] y = new int[sequences.size()][];
        for (int s = 0; s < y.length; s++) {
            y[s] = new int[sequences.get(s).length];
            java.util.Arrays.fill(y[s], adapterOf[s] + 1);
        }
        return y;
    }

    /** Perplexity from per-token log-probabilities. */
    public static double perplexity(float[][] lp) {
        double nll = 0;
        long n = 0;
        for (float[] s : lp) {
            for (float v : s) {
                nll -= v;
                n++;
            }
        }
        return Math.exp(nll / Math.max(1, n));
    }

    /**
     * The evaluation table: perplexity of base, each single adapter, the best single adapter per sequence, the
     * given router, and the per-token oracle.
     */
    public static Map<String, Double> perplexities(float[][][] logProbs, List<String> names, float[][] router) {
        return perplexities(logProbs, names, router, "learned-per-token");
    }

    /** As {@link #perplexities(float[][][], List, float[][])}, the router's row named {@code routerName}. */
    public static Map<String, Double> perplexities(float[][][] logProbs, List<String> names, float[][] router,
            String routerName) {
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("base", perplexity(logProbs[0]));
        for (int a = 0; a < names.size(); a++) {
            m.put(names.get(a), perplexity(logProbs[a + 1]));
        }
        int seqs = logProbs[0].length;
        float[][] bestSeq = new float[seqs][];
        float[][] oracle = new float[seqs][];
        for (int s = 0; s < seqs; s++) {
            int best = 0;
            double bestSum = Double.NEGATIVE_INFINITY;
            for (int c = 0; c < logProbs.length; c++) {
                double sum = 0;
                for (float v : logProbs[c][s]) {
                    sum += v;
                }
                if (sum > bestSum) {
                    bestSum = sum;
                    best = c;
                }
            }
            bestSeq[s] = logProbs[best][s];
            oracle[s] = new float[logProbs[0][s].length];
            for (int p = 0; p < oracle[s].length; p++) {
                float v = Float.NEGATIVE_INFINITY;
                for (float[][] c : logProbs) {
                    v = Math.max(v, c[s][p]);
                }
                oracle[s][p] = v;
            }
        }
        m.put("best-single-per-sequence", perplexity(bestSeq));
        if (router != null) {
            m.put(routerName, perplexity(router));
        }
        m.put("oracle-per-token", perplexity(oracle));
        return m;
    }
}
