package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Continuous batching: slots refill, each job as if decoded alone, bad jobs fail alone, cancel stops in flight. */
class SequenceSchedulerTest {
    @TempDir
    static Path dir;
    static Path modelPath;

    record Job(String name, int[] prompt, int maxTokens) implements SequenceScheduler.Job {
        @Override
        public SamplerParams sampling() {
            return SamplerParams.greedy();
        }
    }

    @BeforeAll
    static void model() throws Exception {
        modelPath = NativeTestSupport.writeTinyModel(dir, 7);
    }

    @Test
    void everyJobFinishesOnceAsIfDecodedAlone() {
        try (Model m = Model.load(modelPath, NativeTestSupport.modelParams())) {
            String[] prompts = {"Once upon a time", "The quick brown fox", "In the beginning", "Hello", "A B C D E F",
                    "Call me Ishmael", "It was"};
            int[] max = {7, 1, 12, 0, 5, 9, 3};
            List<Job> jobs = new ArrayList<>();
            for (int i = 0; i < prompts.length; i++) {
                jobs.add(new Job("j" + i, m.tokenizer().tokenize(prompts[i], true, false), max[i]));
            }
            jobs.add(new Job("empty", new int[0], 4));
            Map<String, SequenceScheduler.Outcome> done = new HashMap<>();
            List<String> failed = new ArrayList<>();
            try (Context ctx = Context.create(m, ContextParams.defaults().withContextSize(1024).withMaxSequences(3));
                 SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 3)) {
                ArrayDeque<Job> queue = new ArrayDeque<>(jobs);
                s.run(queue::poll, new SequenceScheduler.Listener<Job>() {
                    @Override
                    public void finished(Job job, int slot, SequenceScheduler.Outcome o) {
                        assertTrue(done.put(job.name(), o) == null, "finished twice: " + job.name());
                    }

                    @Override
                    public void failed(Job job, RuntimeException e) {
                        failed.add(job.name() + ": " + e.getMessage());
                    }
                });
                assertTrue(s.decodes() < 40, "sequences shared decodes: " + s.decodes());
            }
            assertEquals(List.of("empty: prompt is empty"), failed);
            assertEquals(prompts.length, done.size());
            // each as a single sequence decodes it
            try (Context ctx = Context.create(m, ContextParams.defaults().withContextSize(1024))) {
                for (int i = 0; i < prompts.length; i++) {
                    SequenceScheduler.Outcome o = done.get("j" + i);
                    if (max[i] == 0) {
                        assertEquals(0, o.tokens().length);
                        continue;
                    }
                    ctx.clearMemory();
                    try (Sampler sampler = new Sampler(SamplerParams.greedy());
                         Generator g = new Generator(ctx, sampler)) {
                        GenerationResult alone = g.generate(jobs.get(i).prompt(), max[i], t -> { });
                        assertArrayEquals(alone.tokens(), o.tokens(), "job " + i);
                        assertEquals(alone.text(), o.text(), "job " + i);
                        assertEquals(alone.stopReason(), o.stopReason(), "job " + i);
                    }
                }
            }
        }
    }

    @Test
    void cancelReportsJobsInFlightAndTakesNoMore() {
        try (Model m = Model.load(modelPath, NativeTestSupport.modelParams());
             Context ctx = Context.create(m, ContextParams.defaults().withContextSize(1024).withMaxSequences(2));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 2)) {
            ArrayDeque<Job> queue = new ArrayDeque<>();
            for (int i = 0; i < 6; i++) {
                queue.add(new Job("j" + i, m.tokenizer().tokenize("Job number " + i, true, false), i == 0 ? 2 : 50));
            }
            List<String> events = new ArrayList<>();
            s.run(queue::poll, new SequenceScheduler.Listener<Job>() {
                @Override
                public void finished(Job job, int slot, SequenceScheduler.Outcome o) {
                    events.add(job.name() + ":" + o.stopReason());
                    if (job.name().equals("j0")) {
                        s.cancel();
                    }
                }
            });
            // j0 finished, j1 was in flight; its free slot was not refilled
            assertEquals(List.of("j0:MAX_TOKENS", "j1:CANCELLED"), events);
            assertEquals(4, queue.size(), "no job taken after cancel");
            assertEquals(-1, ctx.lastPosition(0));
            assertEquals(-1, ctx.lastPosition(1));
        }
    }

    @Test
    void aFullSlotStopsWhereAFullContextStopsAStream() {
        try (Model m = Model.load(modelPath, NativeTestSupport.modelParams());
             Context ctx = Context.create(m, ContextParams.defaults().withContextSize(256))) {
            int n = ctx.contextSize();
            int[] prompt = m.tokenizer().tokenize("word ".repeat(n), true, false);
            prompt = java.util.Arrays.copyOf(prompt, n - 4);  // room for a few tokens, not for 100
            GenerationResult alone;
            try (Sampler sampler = new Sampler(SamplerParams.greedy()); Generator g = new Generator(ctx, sampler)) {
                alone = g.generate(prompt, 100, t -> { });
            }
            assertEquals(StopReason.CONTEXT_FULL, alone.stopReason());
            ctx.clearMemory();
            List<SequenceScheduler.Outcome> done = new ArrayList<>();
            try (SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 1)) {
                assertEquals(n, s.slotLimit());
                ArrayDeque<Job> queue = new ArrayDeque<>(List.of(new Job("full", prompt, 100)));
                s.run(queue::poll, (job, slot, o) -> done.add(o));
            }
            assertEquals(StopReason.CONTEXT_FULL, done.get(0).stopReason());
            assertArrayEquals(alone.tokens(), done.get(0).tokens());
            assertEquals(alone.text(), done.get(0).text());
        }
    }
}
