package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Log-probabilities of generated tokens: what the scheduler reports with each token of several sequences decoded
 * together equals the log-softmax of llama.cpp's logits for the same tokens decoded in one prompt pass (the oracle is
 * a second decode path, the prompt and the generated tokens all at once, and a plain double-precision log-softmax).
 */
class TokenLogprobsTest {
    @TempDir
    static Path dir;
    static Model model;

    record Job(String name, int[] prompt, int maxTokens, int logprobs) implements SequenceScheduler.Job {
        @Override
        public SamplerParams sampling() {
            return SamplerParams.greedy();
        }
    }

    @BeforeAll
    static void model() throws Exception {
        model = Model.load(NativeTestSupport.writeTinyModel(dir, 7), NativeTestSupport.modelParams());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void theSchedulersLogprobsAreTheLogSoftmaxOfLlamaCppsLogitsForTheSameTokens() {
        String[] prompts = {"Once upon a time", "The quick brown fox", "Call me Ishmael"};
        int[] top = {0, 3, 20};
        Map<String, List<GeneratedToken>> tokens = new ConcurrentHashMap<>();
        List<Job> jobs = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            jobs.add(new Job("j" + i, model.tokenizer().tokenize(prompts[i], true, false), 8, top[i]));
            tokens.put("j" + i, new ArrayList<>());
        }
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024).withMaxSequences(3));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 3)) {
            SequenceScheduler.Listener<Job> l = new SequenceScheduler.Listener<>() {
                @Override
                public void token(Job job, int slot, GeneratedToken token, int batchIndex) {
                    tokens.get(job.name()).add(token);
                }

                @Override
                public void finished(Job job, int slot, SequenceScheduler.Outcome o) {}

                @Override
                public void failed(Job job, int slot, RuntimeException e) {
                    throw new AssertionError(e);
                }
            };
            jobs.forEach(j -> s.submit(j, l));
            s.runUntilIdle();
        }
        for (int j = 0; j < jobs.size(); j++) {
            Job job = jobs.get(j);
            List<GeneratedToken> got = tokens.get(job.name());
            assertEquals(8, got.size(), job.name());
            // the oracle: prompt + generated tokens in one decode, every output's logits
            int[] all = IntStream.concat(IntStream.of(job.prompt()), got.stream().mapToInt(GeneratedToken::id)).toArray();
            try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024));
                 Batch batch = new Batch(all.length)) {
                for (int i = 0; i < all.length; i++) {
                    batch.add(all[i], i, 0, true);
                }
                ctx.decode(batch);
                for (int t = 0; t < got.size(); t++) {
                    float[] logits = ctx.logits(job.prompt().length - 1 + t);
                    double logZ = logSumExp(logits);
                    TokenLogprobs lp = got.get(t).logprobs();
                    String at = job.name() + " token " + t;
                    assertEquals(logits[got.get(t).id()] - logZ, lp.chosen(), 1e-3, at);
                    assertEquals(job.logprobs(), lp.size(), at);
                    int[] expected = IntStream.range(0, logits.length).boxed()
                            .sorted(Comparator.comparingDouble((Integer i) -> -logits[i]))
                            .limit(job.logprobs()).mapToInt(Integer::intValue).toArray();
                    for (int k = 0; k < lp.size(); k++) {
                        // the same ranking, unless two logits are too close to order across decode paths
                        assertEquals(logits[expected[k]] - logZ, lp.top()[k], 1e-3, at + " alternative " + k);
                        assertTrue(lp.topIds()[k] == expected[k]
                                || Math.abs(logits[lp.topIds()[k]] - logits[expected[k]]) < 1e-3, at);
                        assertTrue(k == 0 || lp.top()[k] <= lp.top()[k - 1], at + ": most likely first");
                    }
                    if (lp.size() > 0) {
                        // greedy: the chosen token is the most likely one
                        assertEquals(lp.top()[0], lp.chosen(), 0f, at);
                    }
                }
            }
        }
    }

    @Test
    void aStreamAsksForNoneAndABadCountIsRefusedAtSubmit() {
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(256));
             Sampler sampler = new Sampler(SamplerParams.greedy());
             Generator g = new Generator(ctx, sampler)) {
            List<GeneratedToken> got = new ArrayList<>();
            g.generate(model.tokenizer().tokenize("Hello", true, false), 3, got::add);
            got.forEach(t -> assertNull(t.logprobs()));
        }
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(256));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 1)) {
            for (int bad : new int[] {-2, TokenLogprobs.MAX_TOP + 1}) {
                Job job = new Job("bad", new int[] {1, 2}, 3, bad);
                assertThrows(IllegalArgumentException.class, () -> s.submit(job, (a, b, c) -> { }));
                assertTrue(!s.hasWork());
            }
        }
    }

    @Test
    void theTopTokensAreOrderedWithTiesToTheLowerIdAndSumToTheWhole() {
        float[] x = {1f, 3f, 3f, -1f, 2f, 3f};
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment seg = arena.allocateFrom(ValueLayout.JAVA_FLOAT, x);
            TokenLogprobs lp = TokenLogprobs.of(seg, 4, 4);
            assertArrayEquals(new int[] {1, 2, 5, 4}, lp.topIds());
            double sum = 0;
            for (float v : x) {
                sum += Math.exp(v);
            }
            assertEquals(2 - Math.log(sum), lp.chosen(), 1e-6);
            TokenLogprobs all = TokenLogprobs.of(seg, 0, 6);
            double p = 0;
            for (float v : all.top()) {
                p += Math.exp(v);
            }
            assertEquals(1.0, p, 1e-6);
            assertEquals(0, TokenLogprobs.of(seg, 0, 0).size());
            assertThrows(IllegalArgumentException.class, () -> TokenLogprobs.of(seg, 6, 1));
            assertThrows(IllegalArgumentException.class, () -> TokenLogprobs.of(seg, 0, 21));
        }
    }

    private static double logSumExp(float[] x) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : x) {
            max = Math.max(max, v);
        }
        double sum = 0;
        for (float v : x) {
            sum += Math.exp(v - max);
        }
        return max + Math.log(sum);
    }
}
