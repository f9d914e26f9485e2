package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Continuous batching fed by pushes: slots refill, each job as if decoded alone (also when other threads submit
 * while it runs), bad jobs fail alone, a cancelled job frees its slot at the next step, close cancels what is left.
 */
class SequenceSchedulerTest {
    @TempDir
    static Path dir;
    static Model model;

    record Job(String name, int[] prompt, int maxTokens) implements SequenceScheduler.Job {
        @Override
        public SamplerParams sampling() {
            return SamplerParams.greedy();
        }
    }

    /** Records every event of the jobs it listens to. */
    static class Recorder implements SequenceScheduler.Listener<Job> {
        final Map<String, SequenceScheduler.Outcome> done = new ConcurrentHashMap<>();
        final Map<String, Integer> slotOf = new ConcurrentHashMap<>();
        final List<String> events = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch allDone;

        Recorder(int jobs) {
            allDone = new CountDownLatch(jobs);
        }

        @Override
        public void started(Job job, int slot) {
            slotOf.put(job.name(), slot);
        }

        @Override
        public void finished(Job job, int slot, SequenceScheduler.Outcome o) {
            assertTrue(done.put(job.name(), o) == null, "finished twice: " + job.name());
            events.add(job.name() + ":" + o.stopReason());
            allDone.countDown();
        }

        @Override
        public void failed(Job job, int slot, RuntimeException e) {
            events.add(job.name() + ": " + e.getMessage());
            allDone.countDown();
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

    static Job job(String name, String prompt, int max) {
        return new Job(name, model.tokenizer().tokenize(prompt, true, false), max);
    }

    /** The job decoded alone, as a single stream does it (the oracle of every batched result). */
    static GenerationResult alone(Job job) {
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024));
             Sampler sampler = new Sampler(SamplerParams.greedy());
             Generator g = new Generator(ctx, sampler)) {
            return g.generate(job.prompt(), job.maxTokens(), t -> { });
        }
    }

    static void assertAsAlone(Job job, SequenceScheduler.Outcome o) {
        if (job.maxTokens() == 0) {
            assertEquals(0, o.tokens().length, job.name());
            return;
        }
        GenerationResult alone = alone(job);
        assertArrayEquals(alone.tokens(), o.tokens(), job.name());
        assertEquals(alone.text(), o.text(), job.name());
        assertEquals(alone.stopReason(), o.stopReason(), job.name());
    }

    @Test
    void everyJobFinishesOnceAsIfDecodedAlone() {
        String[] prompts = {"Once upon a time", "The quick brown fox", "In the beginning", "Hello", "A B C D E F",
                "Call me Ishmael", "It was"};
        int[] max = {7, 1, 12, 0, 5, 9, 3};
        List<Job> jobs = new ArrayList<>();
        for (int i = 0; i < prompts.length; i++) {
            jobs.add(job("j" + i, prompts[i], max[i]));
        }
        jobs.add(new Job("empty", new int[0], 4));
        Recorder r = new Recorder(jobs.size());
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024).withMaxSequences(3));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 3)) {
            jobs.forEach(j -> s.submit(j, r));
            s.runUntilIdle();
            SequenceScheduler.Stats stats = s.stats();
            assertTrue(stats.decodes() < 40, "sequences shared decodes: " + stats);
            int promptTokens = jobs.stream().mapToInt(j -> j.prompt().length).sum();
            assertTrue(stats.tokens() >= promptTokens, "every prompt token was decoded: " + stats);
            assertTrue(stats.busySlots() > stats.decodes() && stats.busySlots() <= 3 * stats.decodes(),
                    "the three slots were shared: " + stats);
            assertTrue(stats.decodeNanos() > 0 && stats.decodeNanos() <= stats.stepNanos(), stats.toString());
            assertFalse(s.hasWork());
        }
        assertTrue(r.events.contains("empty: prompt is empty"), r.events.toString());
        assertEquals(prompts.length, r.done.size());
        for (int i = 0; i < prompts.length; i++) {
            assertAsAlone(jobs.get(i), r.done.get("j" + i));
        }
    }

    @Test
    void jobsSubmittedFromOtherThreadsWhileItRunsAreEachDecodedAsAlone() throws Exception {
        int threads = 4;
        int perThread = 5;
        Recorder r = new Recorder(threads * perThread);
        Map<String, Job> jobs = new ConcurrentHashMap<>();
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024).withMaxSequences(3));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 3)) {
            Thread driver = Thread.ofPlatform().name("driver").start(s::run);
            List<Thread> submitters = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int tt = t;
                submitters.add(Thread.ofPlatform().start(() -> {
                    for (int i = 0; i < perThread; i++) {
                        Job j = job("t" + tt + "-" + i, "Thread " + tt + " says " + "word ".repeat(i), 3 + (tt * 7 + i) % 9);
                        jobs.put(j.name(), j);
                        s.submit(j, r);
                        // later jobs arrive while earlier ones decode: wait for some job to finish now and then
                        if (i == 2) {
                            while (r.done.isEmpty()) {
                                Thread.onSpinWait();
                            }
                        }
                    }
                }));
            }
            for (Thread t : submitters) {
                t.join();
            }
            assertTrue(r.allDone.await(120, TimeUnit.SECONDS), "all jobs finished: " + r.events);
            s.close();
            driver.join();
            assertThrows(IllegalStateException.class, () -> s.submit(job("late", "x", 1), r));
        }
        assertEquals(threads * perThread, r.done.size(), r.events.toString());
        for (Job j : jobs.values()) {
            assertAsAlone(j, r.done.get(j.name()));
        }
    }

    @Test
    void aCancelledJobFreesItsSlotAtTheNextStepAndHearsCancelled() throws Exception {
        Job longJob = job("long", "Tell me a long story", 200);
        Job other = job("other", "A short one", 30);
        Job queued = job("queued", "Never started", 5);
        Job next = job("next", "Takes the freed slot", 6);
        Recorder r = new Recorder(4) {
            int tokens;

            @Override
            public void token(Job job, int slot, GeneratedToken token, int batchIndex) {
                if (job == longJob && ++tokens == 5) {
                    // cancelled from another thread mid-generation; this step still ends normally
                    Thread t = Thread.ofPlatform().start(() -> assertTrue(schedulerRef[0].cancel(longJob)));
                    try {
                        t.join();
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                }
            }
        };
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024).withMaxSequences(2));
             SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 2)) {
            schedulerRef[0] = s;
            s.submit(longJob, r);
            s.submit(other, r);
            s.submit(queued, r);
            assertTrue(s.cancel(queued));
            assertFalse(s.cancel(queued), "a second cancel of the same job");
            int steps = 0;
            while (!r.done.containsKey("long")) {
                s.step();
                steps++;
            }
            SequenceScheduler.Outcome cancelled = r.done.get("long");
            assertEquals(StopReason.CANCELLED, cancelled.stopReason());
            assertEquals(5, cancelled.tokens().length, "ended at the step after the cancel");
            int longSlot = r.slotOf.get("long");
            assertEquals(-1, ctx.lastPosition(longSlot), "its sequence was cleared");
            assertEquals(r.done.containsKey("other") ? 0 : 1, s.active());
            assertFalse(s.cancel(longJob), "already ended");
            // the queued job never started and ended with slot -1
            assertEquals(StopReason.CANCELLED, r.done.get("queued").stopReason());
            assertFalse(r.slotOf.containsKey("queued"));
            // the free slot takes the next job; the other job went on undisturbed
            s.submit(next, r);
            s.runUntilIdle();
            assertEquals(longSlot, r.slotOf.get("next"));
            assertTrue(steps > 5);
        }
        assertAsAlone(other, r.done.get("other"));
        assertAsAlone(next, r.done.get("next"));
        // what it generated before the cancel is what it would have generated
        GenerationResult alone = alone(longJob);
        assertArrayEquals(java.util.Arrays.copyOf(alone.tokens(), 5), r.done.get("long").tokens());
    }

    static final SequenceScheduler[] schedulerRef = new SequenceScheduler[1];

    @Test
    void closeCancelsJobsInFlightAndQueuedAndWakesTheRunLoop() throws Exception {
        List<String> events = Collections.synchronizedList(new ArrayList<>());
        CountDownLatch generating = new CountDownLatch(1);
        SequenceScheduler.Listener<Job> listener = new SequenceScheduler.Listener<>() {
            @Override
            public void token(Job job, int slot, GeneratedToken token, int batchIndex) {
                generating.countDown();
            }

            @Override
            public void finished(Job job, int slot, SequenceScheduler.Outcome o) {
                events.add(job.name() + ":" + o.stopReason());
            }
        };
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(1024).withMaxSequences(1))) {
            SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 1);
            Thread driver = Thread.ofPlatform().start(s::run);
            s.submit(job("running", "Job number one", 100_000), listener);
            s.submit(job("waiting", "Job number two", 5), listener);
            assertTrue(generating.await(60, TimeUnit.SECONDS));
            s.close();
            driver.join();
            assertEquals(List.of("running:CANCELLED", "waiting:CANCELLED"), events);
            assertEquals(-1, ctx.lastPosition(0));
            assertFalse(s.hasWork());
        }
    }

    @Test
    void aFullSlotStopsWhereAFullContextStopsAStream() {
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(256))) {
            int n = ctx.contextSize();
            int[] prompt = model.tokenizer().tokenize("word ".repeat(n), true, false);
            prompt = java.util.Arrays.copyOf(prompt, n - 4);  // room for a few tokens, not for 100
            GenerationResult alone;
            try (Sampler sampler = new Sampler(SamplerParams.greedy()); Generator g = new Generator(ctx, sampler)) {
                alone = g.generate(prompt, 100, t -> { });
            }
            assertEquals(StopReason.CONTEXT_FULL, alone.stopReason());
            ctx.clearMemory();
            Map<String, SequenceScheduler.Outcome> done = new HashMap<>();
            try (SequenceScheduler s = new SequenceScheduler(ctx, Decoder.plain(ctx), 1)) {
                assertEquals(n, s.slotLimit());
                s.submit(new Job("full", prompt, 100), (job, slot, o) -> done.put(job.name(), o));
                s.runUntilIdle();
            }
            assertEquals(StopReason.CONTEXT_FULL, done.get("full").stopReason());
            assertArrayEquals(alone.tokens(), done.get("full").tokens());
            assertEquals(alone.text(), done.get("full").text());
        }
    }
}
