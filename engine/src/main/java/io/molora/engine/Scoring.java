package io.molora.engine;

import io.molora.adapters.eval.Perplexity;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.Tokenizer;
import io.molora.adapters.gate.RouterTraining;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Perplexity with the engine's routing ({@link Engine#perplexity} and {@link Engine#perplexityOfText}): one adapter or
 * all adapters are set the way llama.cpp's {@code --lora} sets them, other routers route per token. A router that
 * reads hidden states gets them from a base pass over each record (all of a record's tokens are known in advance).
 */
final class Scoring {
    private final Engine engine;

    Scoring(Engine engine) {
        this.engine = engine;
    }

    List<SetScore> records(String source, List<EvalRecord> input, ProgressReporter progress) {
        Tokenizer tok = engine.model().tokenizer();
        Map<String, List<int[]>> bySet = new LinkedHashMap<>();
        Map<String, Integer> mismatches = new LinkedHashMap<>();
        for (EvalRecord r : input) {
            int[] ids = tok.tokenize(r.text(), true, false);
            if (r.ids().isPresent() && !Arrays.equals(r.ids().get(), ids)) {
                mismatches.merge(r.set(), 1, Integer::sum);
            }
            if (ids.length >= 2) {
                bySet.computeIfAbsent(r.set(), k -> new ArrayList<>()).add(ids);
            }
        }
        if (bySet.isEmpty()) {
            throw new LlamaException(source + ": no eval records of two tokens or more");
        }
        HiddenStateFeed hidden = engine.routing().needsHiddenStates() ? engine.routing().hiddenStates() : null;
        Model m = engine.model();
        List<SetScore> results = new ArrayList<>();
        for (var e : bySet.entrySet()) {
            List<int[]> records = e.getValue();
            int longest = records.stream().mapToInt(r -> r.length).max().orElse(2);
            long decoded = records.stream().mapToLong(r -> r.length).sum();
            // token+hidden routers: a base pass first (2N), its states fed to the gate as the records are decoded
            float[][][] states = hidden == null ? null : RouterTraining.hiddenStates(m, records);
            long start = System.nanoTime();
            double[] nll;
            try (Context ctx = context(hidden == null ? records.size() : 1, longest);
                 DecodePath path = decodePath(ctx);
                 ProgressReporter.Counter counter = progress.start(e.getKey(), records.size())) {
                if (hidden != null) {
                    nll = new double[records.size()];
                    for (int q = 0; q < records.size(); q++) {
                        hidden.set(0, states[q]);
                        nll[q] = Perplexity.records(ctx, path.decoder(), List.of(records.get(q)), n -> { })[0];
                        counter.stepTo(q + 1);
                    }
                } else {
                    nll = Perplexity.records(ctx, path.decoder(), records, counter::stepTo);
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            double sum = 0;
            long predicted = 0;
            for (int q = 0; q < records.size(); q++) {
                sum += nll[q];
                predicted += records.get(q).length - 1;
            }
            results.add(new SetScore(e.getKey(), new Perplexity.Score(sum, predicted, seconds), decoded,
                    Optional.of(nll), mismatches.getOrDefault(e.getKey(), 0)));
        }
        return results;
    }

    SetScore text(String source, String name, String text, ProgressReporter progress) {
        if (engine.routing().needsHiddenStates()) {
            throw new LlamaException("a token+hidden router scores .jsonl records only (it needs a base pass over each "
                    + "record's tokens)");
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
             DecodePath path = decodePath(ctx);
             ProgressReporter.Counter counter = progress.start(name, chunks)) {
            score = Perplexity.chunks(ctx, path.decoder(), tokens, nCtx, tok.bos(), addBos, counter::stepTo);
        } catch (IllegalArgumentException e) {
            throw new LlamaException(source + ": " + e.getMessage());
        }
        return new SetScore(name, score, (long) chunks * nCtx, Optional.empty(), 0);
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
     * One adapter or all of them set on the context (stock llama.cpp), a router's per-token routes, or plain. Hidden
     * states come from the base passes, so no tracking: the context needs no embeddings.
     */
    private DecodePath decodePath(Context ctx) {
        Routing routing = engine.routing();
        if (routing.applyStatically(ctx)) {
            return DecodePath.plain(ctx);
        }
        return DecodePath.open(ctx, engine.adapters().orElse(null), routing.router(), null, false);
    }
}
