package io.molora.adapters.eval;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import io.molora.runtime.TokenLogprobs;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.function.IntConsumer;
import java.util.stream.IntStream;

/**
 * Perplexity of a model (with whatever adapters or routes its decoder applies) under two protocols:
 * <ul>
 *   <li>{@link #tokenNll}: the testbed's — each record is {@code [BOS] + tokens}, decoded from position 0 on its own
 *   sequence; every position but the last predicts the next token;</li>
 *   <li>{@link #chunks}: llama.cpp's {@code llama-perplexity} — the text as one token stream cut into chunks of
 *   {@code n_ctx}, each chunk's first token replaced by BOS, only the second half of each chunk scored.</li>
 * </ul>
 * Several records or chunks share one decode as separate sequences, as llama-perplexity does, so the context must
 * allow {@code maxSequences} sequences and a batch of their tokens.
 */
public final class Perplexity {
    private Perplexity() {}

    /** Summed negative log-likelihood over {@code tokens} predicted tokens, and the time it took. */
    public record Score(double nll, long tokens, double seconds) {
        public double perplexity() {
            return Math.exp(nll / Math.max(1, tokens));
        }

        public double nllPerToken() {
            return nll / Math.max(1, tokens);
        }

        /** Tokens decoded per second (the scored ones and their context). */
        public double tokensPerSecond(long decoded) {
            return decoded / Math.max(seconds, 1e-9);
        }
    }

    /**
     * The testbed protocol, token by token: {@code nll[r][p]} is the negative log-likelihood of token p+1 of record r,
     * predicted from its prefix. Records are packed into decodes of at most {@code ctx.batchSize()} tokens and
     * {@code ctx.params().maxSequences()} sequences; the KV cache is cleared before each decode. Record r of a decode
     * sits on sequence {@code r - first}; {@code beforeDecode} gets {@code first} before each decode, so a router that
     * keeps per-record state (routes, hidden states) can follow the packing.
     *
     * @param onRecordDone called with the number of records finished so far
     */
    public static double[][] tokenNll(Context ctx, Decoder decoder, List<int[]> records, IntConsumer beforeDecode,
            IntConsumer onRecordDone) {
        double[][] nll = new double[records.size()][];
        int maxSeq = ctx.params().maxSequences();
        int capacity = ctx.batchSize();
        for (int[] r : records) {
            if (r.length < 2 || r.length > capacity) {
                throw new IllegalArgumentException("a record of " + r.length + " tokens does not fit a batch of "
                        + capacity + " (or predicts nothing)");
            }
        }
        try (Batch batch = new Batch(capacity)) {
            int next = 0;
            while (next < records.size()) {
                // 1. pack whole records, one sequence each
                batch.clear();
                int first = next;
                while (next < records.size() && next - first < maxSeq
                        && batch.size() + records.get(next).length <= capacity) {
                    int[] r = records.get(next);
                    for (int p = 0; p < r.length; p++) {
                        batch.add(r[p], p, next - first, p < r.length - 1);
                    }
                    next++;
                }
                // 2. decode from an empty cache
                beforeDecode.accept(first);
                ctx.clearMemory();
                decoder.decode(batch);
                // 3. score: position p of a record sits at batch index (record's first index) + p
                int at = 0;
                for (int q = first; q < next; q++) {
                    int[] r = records.get(q);
                    nll[q] = negLogProbs(ctx, at, r, 1, r.length - 1);
                    at += r.length;
                }
                onRecordDone.accept(next);
            }
        }
        return nll;
    }

    /**
     * llama-perplexity's protocol over {@code tokens} (the whole text tokenized with BOS first when the model adds
     * one): chunk i is {@code tokens[i*nCtx, (i+1)*nCtx)}; with {@code addBos} its first token is replaced by BOS;
     * logits of positions {@code nCtx/2 .. nCtx-2} score tokens {@code nCtx/2+1 .. nCtx-1}. Chunks share a decode
     * as separate sequences when the batch holds several.
     *
     * @param onChunkDone called with the number of chunks finished so far
     */
    public static Score chunks(Context ctx, Decoder decoder, int[] tokens, int nCtx, int bos, boolean addBos,
            IntConsumer onChunkDone) {
        int nChunks = tokens.length / nCtx;
        if (nCtx - 1 - nCtx / 2 < 1) {
            throw new IllegalArgumentException("a context of " + nCtx + " tokens scores none (positions c/2 to c-2 of "
                    + "each chunk are scored, as llama-perplexity does): use -c 3 or more");
        }
        if (tokens.length < 2 * nCtx) {
            throw new IllegalArgumentException("the text has " + tokens.length + " tokens; perplexity with a context of "
                    + nCtx + " needs at least " + 2 * nCtx + " (use a smaller -c or a longer file)");
        }
        int perDecode = Math.max(1, Math.min(ctx.params().maxSequences(), ctx.batchSize() / nCtx));
        if (ctx.batchSize() < nCtx) {
            throw new IllegalArgumentException("the batch (" + ctx.batchSize() + ") must hold a whole chunk of " + nCtx);
        }
        int first = nCtx / 2;
        double nll = 0;
        long count = 0;
        long start = System.nanoTime();
        try (Batch batch = new Batch(perDecode * nCtx)) {
            for (int c = 0; c < nChunks; c += perDecode) {
                int n = Math.min(perDecode, nChunks - c);
                batch.clear();
                for (int s = 0; s < n; s++) {
                    int base = (c + s) * nCtx;
                    for (int k = 0; k < nCtx; k++) {
                        int token = addBos && k == 0 ? bos : tokens[base + k];
                        batch.add(token, k, s, k >= first);
                    }
                }
                ctx.clearMemory();
                decoder.decode(batch);
                for (int s = 0; s < n; s++) {
                    int base = (c + s) * nCtx;
                    // position first + j of chunk s (batch index s*nCtx + first + j) predicts the token after it
                    nll -= sumLogProbs(ctx, s * nCtx + first, tokens, base + first + 1, nCtx - 1 - first);
                    count += nCtx - 1 - first;
                }
                onChunkDone.accept(c + n);
            }
        }
        return new Score(nll, count, (System.nanoTime() - start) / 1e9);
    }

    /** Sum over j < n of log p(targets[from + j]) under the logits of batch index {@code first + j}. */
    private static double sumLogProbs(Context ctx, int first, int[] targets, int from, int n) {
        double sum = 0;
        for (double v : negLogProbs(ctx, first, targets, from, n)) {
            sum -= v;
        }
        return sum;
    }

    /** -log p(targets[from + j]) under the logits of batch index {@code first + j}, j < n, computed in parallel. */
    private static double[] negLogProbs(Context ctx, int first, int[] targets, int from, int n) {
        MemorySegment[] views = new MemorySegment[n];
        for (int j = 0; j < n; j++) {
            views[j] = ctx.logitsView(first + j);
        }
        return IntStream.range(0, n).parallel()
                .mapToDouble(j -> -TokenLogprobs.logSoftmaxAt(views[j], targets[from + j])).toArray();
    }
}
