package io.molora.engine;

import io.molora.adapters.eval.Perplexity;
import io.molora.adapters.eval.SpanLabels;
import io.molora.adapters.gate.RequestRouter;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.RouteTable;
import io.molora.runtime.Router;
import io.molora.runtime.Tokenizer;
import io.molora.adapters.gate.RouterTraining;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalDouble;

/**
 * Perplexity with the engine's routing ({@link Engine#perplexity} and {@link Engine#perplexityOfText}): one adapter or
 * all adapters are set the way llama.cpp's {@code --lora} sets them, other routers route per token, or each token goes
 * to its label (span routes). A router that reads hidden states gets them from a base pass over each record (all of a
 * record's tokens are known in advance). Records are packed several per decode; routed runs are scored against the
 * records' labels.
 */
final class Scoring {
    private final Engine engine;

    Scoring(Engine engine) {
        this.engine = engine;
    }

    /** One record as scored: its tokens, and each token's adapter label (null: the record has none). */
    private record Labelled(int[] ids, int[] labels) {}

    List<SetScore> records(String source, List<EvalRecord> input, ScoringOptions options, ProgressReporter progress) {
        Tokenizer tok = engine.model().tokenizer();
        List<String> names = engine.adapterNames();
        Map<String, List<Labelled>> bySet = new LinkedHashMap<>();
        Map<String, Integer> mismatches = new LinkedHashMap<>();
        for (EvalRecord r : input) {
            int[] ids = tok.tokenize(r.text(), true, false);
            if (r.ids().isPresent() && !Arrays.equals(r.ids().get(), ids)) {
                mismatches.merge(r.set(), 1, Integer::sum);
            }
            if (ids.length >= 2) {
                bySet.computeIfAbsent(r.set(), k -> new ArrayList<>()).add(new Labelled(ids, labels(r, ids, names)));
            }
        }
        if (bySet.isEmpty()) {
            throw new LlamaException(source + ": no eval records of two tokens or more");
        }
        if (options.spanRoutes() && bySet.values().stream().flatMap(List::stream).anyMatch(r -> r.labels() == null)) {
            throw new LlamaException(source + ": span routes need every record labelled: \"spans\", or a \"set\" named "
                    + "like an adapter " + names);
        }
        HiddenStateFeed hidden = engine.routing().needsHiddenStates() ? engine.routing().hiddenStates() : null;
        // a request router: each record is a request, its adapter chosen from a base pass over it
        boolean perRequest = perRequest() && !options.spanRoutes();
        List<SetScore> results = new ArrayList<>();
        for (var e : bySet.entrySet()) {
            List<Labelled> recs = e.getValue();
            List<int[]> records = recs.stream().map(Labelled::ids).toList();
            int longest = records.stream().mapToInt(r -> r.length).max().orElse(2);
            long decoded = records.stream().mapToLong(r -> r.length).sum();
            // token+hidden routers: a base pass first (2N), its states fed to the gate as the records are decoded
            float[][][] states = hidden == null || !options.basePass() ? null
                    : RouterTraining.hiddenStates(engine.model(), records);
            int[] first = {0};  // the record on sequence 0 of the decode under way
            Router labelRouter = (batch, routes) -> {
                for (int i = 0, n = batch.size(); i < n; i++) {
                    routes.set(i, recs.get(first[0] + batch.sequence(i)).labels()[batch.position(i)], 1f);
                }
            };
            long[] agree = {0, 0};  // tokens routed to their label, tokens with a label
            long[] switches = {0, 0};  // tokens routed otherwise than the one before them, tokens after a first
            int[] lastRoute = new int[Math.max(1, records.size())];  // per sequence of the decode, its last route
            long start = System.nanoTime();
            double[][] nll;
            try (Context ctx = context(records.size(), longest);
                 DecodePath path = decodePath(ctx, options.spanRoutes() ? labelRouter : null);
                 ProgressReporter.Counter counter = progress.start(e.getKey(), records.size())) {
                Decoder d = !path.routed() ? path.decoder() : batch -> {
                    path.decoder().decode(batch);
                    RouteTable routes = path.lastRoutes();
                    for (int i = 0, n = batch.size(); i < n; i++) {
                        int[] labels = recs.get(first[0] + batch.sequence(i)).labels();
                        if (labels != null && batch.position(i) > 0) {
                            agree[0] += routes.adapter(i, 0) == labels[batch.position(i)] ? 1 : 0;
                            agree[1]++;
                        }
                        int seq = batch.sequence(i);
                        if (batch.position(i) > 0) {
                            switches[0] += routes.adapter(i, 0) != lastRoute[seq] ? 1 : 0;
                            switches[1]++;
                        }
                        lastRoute[seq] = routes.adapter(i, 0);
                    }
                };
                nll = Perplexity.tokenNll(ctx, d, records, q -> {
                    first[0] = q;
                    for (int s = 0; perRequest && s < ctx.params().maxSequences() && q + s < records.size(); s++) {
                        engine.routing().startSequence(s, records.get(q + s));
                    }
                    if (hidden != null) {
                        hidden.clear();
                        for (int s = 0; states != null && s < ctx.params().maxSequences() && q + s < records.size(); s++) {
                            hidden.set(s, states[q + s]);
                        }
                    }
                }, counter::stepTo);
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
            results.add(new SetScore(e.getKey(), new Perplexity.Score(sum, predicted, seconds), decoded,
                    Optional.of(nll), mismatches.getOrDefault(e.getKey(), 0),
                    agree[1] == 0 ? OptionalDouble.empty() : OptionalDouble.of((double) agree[0] / agree[1]),
                    switches[1] == 0 ? OptionalDouble.empty() : OptionalDouble.of(100.0 * switches[0] / switches[1])));
        }
        return results;
    }

    /** A record's per-token adapter labels: from its spans, else its set when an adapter has that name, else null. */
    private int[] labels(EvalRecord r, int[] ids, List<String> names) {
        if (r.spans().isPresent()) {
            return SpanLabels.labels(engine.model().tokenizer(), ids, r.text(), r.spans().get(), names);
        }
        return names.contains(r.set()) ? SpanLabels.constant(ids.length, names.indexOf(r.set())) : null;
    }

    private boolean perRequest() {
        return engine.routing().router() instanceof RequestRouter;
    }

    SetScore text(String source, String name, String text, ProgressReporter progress) {
        if (engine.routing().needsHiddenStates() || perRequest()) {
            throw new LlamaException("a " + (perRequest() ? "request" : "token+hidden") + " router scores .jsonl "
                    + "records only (it needs a base pass over each record's tokens)");
        }
        Model m = engine.model();
        Tokenizer tok = m.tokenizer();
        int[] tokens = tok.tokenize(text, true, false);
        ContextParams p = engine.spec().contextParams();
        int nCtx = p.contextSize() > 0 ? p.contextSize() : m.contextLengthTrained();
        boolean addBos = tokens.length > 0 && tokens[0] == tok.bos();
        int chunks = tokens.length / nCtx;
        Perplexity.Score score;
        // llama-perplexity decodes n_batch / n_ctx chunks at once as separate sequences
        try (Context ctx = context(Math.max(1, p.batchSize() / nCtx), nCtx);
             DecodePath path = decodePath(ctx, null);
             ProgressReporter.Counter counter = progress.start(name, chunks)) {
            score = Perplexity.chunks(ctx, path.decoder(), tokens, nCtx, tok.bos(), addBos, counter::stepTo);
        } catch (IllegalArgumentException e) {
            throw new LlamaException(source + ": " + e.getMessage());
        }
        return new SetScore(name, score, (long) chunks * nCtx, Optional.empty(), 0, OptionalDouble.empty());
    }

    /** A context for {@code sequences} sequences of up to {@code length} tokens in one decode. */
    private Context context(int sequences, int length) {
        ContextParams p = engine.spec().contextParams();
        int batch = Math.max(length, Math.min(p.batchSize(), sequences * length));
        int seqs = Math.max(1, Math.min(Math.min(sequences, 256), batch / length));
        return Context.create(engine.model(), p.withContextSize(seqs * length)
                .withBatch(batch, Math.min(p.ubatchSize(), batch)).withMaxSequences(seqs).withEmbeddings(false));
    }

    /**
     * Routed by {@code override} when given; else one adapter or all of them set on the context (stock llama.cpp), the
     * engine's router's per-token routes, or plain. Hidden states come from the base passes (or none), so no
     * tracking: the context needs no embeddings.
     */
    private DecodePath decodePath(Context ctx, Router override) {
        Routing routing = engine.routing();
        if (override == null && routing.applyStatically(ctx)) {
            return DecodePath.plain(ctx);
        }
        return DecodePath.open(ctx, engine.adapters().orElse(null), override != null ? override : routing.router(),
                engine.spec().routingForm(), null, false);
    }
}
