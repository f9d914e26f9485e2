package io.molora.adapters.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Decoder;
import io.molora.runtime.Model;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The records protocol packs several records into one decode as separate sequences: each record's NLL must equal the
 * same record decoded alone, token by token from position 0, with the log-softmax taken over the copied logits.
 */
class PerplexityTest {
    @TempDir
    static Path dir;
    private static Model model;

    @BeforeAll
    static void load() throws IOException {
        model = Model.load(NativeTestSupport.writeTinyModel(dir, 9), NativeTestSupport.modelParams());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void packedRecordsScoreAsEachRecordAlone() {
        Random rnd = new Random(3);
        List<int[]> records = new ArrayList<>();
        for (int i = 0; i < 11; i++) {
            int[] r = new int[2 + rnd.nextInt(40)];
            r[0] = model.tokenizer().bos();
            for (int p = 1; p < r.length; p++) {
                r[p] = 3 + rnd.nextInt(model.tokenizer().vocabSize() - 3);
            }
            records.add(r);
        }
        ContextParams exact = ContextParams.defaults().exactAttention();
        double[] packed;
        // 4 sequences and a 64-token batch: records are split over several decodes, several per decode
        try (Context ctx = Context.create(model, exact.withContextSize(4 * 48).withBatch(64, 64).withMaxSequences(4))) {
            int[] progress = {0};
            List<Integer> firsts = new ArrayList<>();
            packed = Arrays.stream(Perplexity.tokenNll(ctx, Decoder.plain(ctx), records, firsts::add,
                    n -> progress[0] = n)).mapToDouble(r -> Arrays.stream(r).sum()).toArray();
            assertTrue(firsts.size() > 1 && firsts.size() < records.size(), "records packed: " + firsts);
            assertEquals(records.size(), progress[0]);
        }
        try (Context ctx = Context.create(model, exact.withContextSize(64).withBatch(1, 1).withThreads(1, 1))) {
            for (int q = 0; q < records.size(); q++) {
                double alone = aloneNll(ctx, records.get(q));
                assertEquals(alone, packed[q], 1e-5 * Math.abs(alone), "record " + q);
            }
        }
    }

    @Test
    void aRecordLongerThanTheBatchIsRefused() {
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(64).withBatch(8, 8))) {
            assertThrows(IllegalArgumentException.class,
                    () -> Perplexity.tokenNll(ctx, Decoder.plain(ctx), List.of(new int[9]), q -> { }, n -> { }));
        }
    }

    /** One token per decode, the next token's log-probability from a copy of the logits. */
    private static double aloneNll(Context ctx, int[] r) {
        ctx.clearMemory();
        double nll = 0;
        try (Batch b = new Batch(1)) {
            for (int p = 0; p < r.length - 1; p++) {
                b.clear();
                b.add(r[p], p, 0, true);
                ctx.decode(b);
                float[] l = ctx.logits(0);
                double max = Double.NEGATIVE_INFINITY;
                for (float v : l) {
                    max = Math.max(max, v);
                }
                double sum = 0;
                for (float v : l) {
                    sum += Math.exp(v - max);
                }
                nll -= l[r[p + 1]] - max - Math.log(sum);
            }
        }
        return nll;
    }
}
