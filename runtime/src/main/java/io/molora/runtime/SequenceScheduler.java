package io.molora.runtime;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;

/**
 * Continuous batching, fed by pushes: up to {@code slots} sequences decode together in one context, each with its own
 * sampler; when one finishes its slot takes the next queued job at once, while the others keep generating. Each
 * decode carries one generated token per generating slot plus as many prompt tokens of newly started jobs as fit in
 * the batch (a long prompt is prefilled over several decodes, interleaved with generation).
 *
 * <p>Threads: {@link #submit} and {@link #cancel} may be called from any thread at any time; one thread at a time
 * drives the decoding, either by calling {@link #step()} itself or by {@link #run()}, which steps while there is
 * work and waits for more until {@link #close()}. Every listener call happens on the driving thread (or on the
 * thread that closes the scheduler, for jobs still in flight then).
 *
 * <p>Slot {@code i} is sequence id {@code i} of the context (which needs {@code maxSequences >= slots}); each slot may
 * use at most {@code contextSize / slots} positions. The decoder sees mixed batches, so a router can route each
 * sequence (or each token) differently in the same decode.
 */
public final class SequenceScheduler implements AutoCloseable {
    /** One generation request. */
    public interface Job {
        int[] prompt();

        /** Tokens to generate at most (>= 0; generation also stops at end-of-generation or a full slot). */
        int maxTokens();

        SamplerParams sampling();

        /**
         * -1 (the default): no log-probabilities; n from 0 to {@link TokenLogprobs#MAX_TOP}: every generated token
         * carries its {@link TokenLogprobs} with the n most likely alternatives.
         */
        default int logprobs() {
            return -1;
        }
    }

    /** What the scheduler reports about one job, from the thread that drives it. */
    public interface Listener<J extends Job> {
        /** The job got slot {@code slot}; called before any of its tokens is decoded (set its routes here). */
        default void started(J job, int slot) {}

        /**
         * A token was generated; {@code batchIndex} is the index, in the last decoded batch, of the output it was
         * sampled from (the decoder's routes for that index are the routes that produced it).
         */
        default void token(J job, int slot, GeneratedToken token, int batchIndex) {}

        /**
         * The job ended. When cancelled the outcome's reason is {@link StopReason#CANCELLED}; a job cancelled before
         * it got a slot ends with slot -1 and no tokens.
         */
        void finished(J job, int slot, Outcome outcome);

        /**
         * The job could not run (e.g. its prompt does not fit in a slot), or its decode failed; the others go on.
         * {@code slot} is -1 when it never got one.
         */
        default void failed(J job, int slot, RuntimeException error) {}
    }

    /** A finished job: tokens, text, why it ended, and times ({@link System#nanoTime()}). */
    public record Outcome(int[] tokens, String text, StopReason stopReason, int promptTokens, long startNanos,
            long firstTokenNanos, long endNanos) {}

    private final Context context;
    private final Decoder decoder;
    private final int slotCount;
    private final int slotLimit;
    private final Batch batch;
    private final Slot<?>[] slots;

    // shared with submitting threads, under lock
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    private final ArrayDeque<Entry<?>> queue = new ArrayDeque<>();
    /** Every job submitted and not yet finished (queued or in a slot), by identity. */
    private final Set<Job> live = Collections.newSetFromMap(new IdentityHashMap<>());
    /** Jobs cancelled since the last step: they end at the next one. */
    private final List<Job> cancelled = new ArrayList<>();
    private int activeCount;
    private boolean closing;
    private Thread runner;

    /** What the decodes so far did; replaced after each one, so any thread reads a consistent record. */
    private volatile Stats stats = Stats.NONE;

    /**
     * The decodes so far: how many, the tokens they carried (prompt + generated), the slots holding a job summed over
     * them (over {@link #decodes} the mean occupancy), and the time spent in the decoder and in whole steps (a step
     * also samples and calls the listeners).
     */
    public record Stats(long decodes, long tokens, long busySlots, long decodeNanos, long stepNanos) {
        public static final Stats NONE = new Stats(0, 0, 0, 0, 0);

        /** What happened between {@code earlier} and this. */
        public Stats since(Stats earlier) {
            return new Stats(decodes - earlier.decodes, tokens - earlier.tokens, busySlots - earlier.busySlots,
                    decodeNanos - earlier.decodeNanos, stepNanos - earlier.stepNanos);
        }
    }

    public SequenceScheduler(Context context, Decoder decoder, int slots) {
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be >= 1, got " + slots);
        }
        if (slots > context.params().maxSequences()) {
            throw new IllegalArgumentException(slots + " slots but the context was made for "
                    + context.params().maxSequences() + " sequence(s)");
        }
        this.context = context;
        this.decoder = decoder;
        this.slotCount = slots;
        this.slotLimit = context.contextSize() / slots;
        this.batch = new Batch(context.batchSize());
        this.slots = new Slot<?>[slots];
    }

    /** Positions one sequence may use: the context size divided by the slots. */
    public int slotLimit() {
        return slotLimit;
    }

    public int slots() {
        return slotCount;
    }

    /** The decodes so far (any thread). */
    public Stats stats() {
        return stats;
    }

    /**
     * Queues {@code job}; it takes a slot at a later step, in submission order. Any thread.
     *
     * @throws IllegalStateException    when the scheduler is closed, or the job is already queued or running
     * @throws IllegalArgumentException when the job asks for log-probabilities outside -1..{@link TokenLogprobs#MAX_TOP}
     */
    public <J extends Job> void submit(J job, Listener<? super J> listener) {
        if (job.logprobs() < -1 || job.logprobs() > TokenLogprobs.MAX_TOP) {
            throw new IllegalArgumentException("logprobs: -1 to " + TokenLogprobs.MAX_TOP + ", got " + job.logprobs());
        }
        lock.lock();
        try {
            if (closing) {
                throw new IllegalStateException("the scheduler is closed");
            }
            if (!live.add(job)) {
                throw new IllegalStateException("job already submitted: " + job);
            }
            queue.add(new Entry<>(job, listener));
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Cancels {@code job}: at the next step its slot is freed (or it leaves the queue) and its listener hears
     * {@link StopReason#CANCELLED}. Any thread, also from a listener. Returns false when the job is not queued or
     * running (never submitted, or already finished or cancelled).
     */
    public boolean cancel(Job job) {
        lock.lock();
        try {
            if (!live.contains(job) || cancelled.contains(job)) {
                return false;
            }
            cancelled.add(job);
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    /** Jobs waiting for a slot. */
    public int queued() {
        lock.lock();
        try {
            return queue.size();
        } finally {
            lock.unlock();
        }
    }

    /** Jobs in a slot. */
    public int active() {
        lock.lock();
        try {
            return activeCount;
        } finally {
            lock.unlock();
        }
    }

    /** Whether a job is queued or running (what {@link #step()} would work on). */
    public boolean hasWork() {
        lock.lock();
        try {
            return !live.isEmpty();
        } finally {
            lock.unlock();
        }
    }

    /**
     * One step, on the driving thread: ends cancelled jobs, gives free slots to queued jobs, then decodes one batch
     * (a token per generating slot, then prompt chunks) and samples every slot that has an output in it. Returns
     * whether work is left (jobs queued or running).
     */
    public boolean step() {
        long stepStart = System.nanoTime();
        // 1. cancellations, then refill free slots
        List<Job> cancelNow;
        lock.lock();
        try {
            cancelNow = List.copyOf(cancelled);
            cancelled.clear();
        } finally {
            lock.unlock();
        }
        for (Job job : cancelNow) {
            endCancelled(job);
        }
        for (int s = 0; s < slotCount; s++) {
            while (slots[s] == null) {
                Entry<?> next = poll();
                if (next == null) {
                    break;
                }
                slots[s] = admit(next, s);
            }
        }
        if (activeSlots() == 0) {
            return hasWork();
        }
        // 2. one batch: a generated token per generating slot, then prompt chunks
        batch.clear();
        int capacity = batch.capacity();
        for (int s = 0; s < slotCount; s++) {
            Slot<?> slot = slots[s];
            if (slot != null && slot.generatingNext) {
                slot.outputIndex = batch.add(slot.pending, slot.position, s, true);
                slot.position++;
            } else if (slot != null) {
                slot.outputIndex = -1;
            }
        }
        for (int s = 0; s < slotCount && batch.size() < capacity; s++) {
            Slot<?> slot = slots[s];
            if (slot == null || slot.generatingNext) {
                continue;
            }
            int[] prompt = slot.prompt;
            while (slot.prefilled < prompt.length && batch.size() < capacity) {
                boolean last = slot.prefilled == prompt.length - 1;
                int i = batch.add(prompt[slot.prefilled], slot.prefilled, s, last);
                slot.prefilled++;
                if (last) {
                    slot.outputIndex = i;
                    slot.position = prompt.length;
                }
            }
        }
        int busy = activeSlots();
        long decodeStart = System.nanoTime();
        try {
            decoder.decode(batch);
        } catch (RuntimeException e) {
            // the batch's sequences are in an unknown state: every job in it fails, the scheduler goes on
            for (int s = 0; s < slotCount; s++) {
                if (slots[s] != null) {
                    slots[s].failed(s, e);
                    free(s);
                }
            }
            return hasWork();
        }
        long decodeNanos = System.nanoTime() - decodeStart;
        // 3. sample for every slot that has an output in this batch; a slot whose output cannot be sampled (logits
        //    gone NaN under a request's own adapter weights) or whose listener throws fails alone
        for (int s = 0; s < slotCount; s++) {
            Slot<?> slot = slots[s];
            if (slot != null && slot.outputIndex >= 0) {
                StopReason stop;
                try {
                    stop = sample(slot, s);
                } catch (RuntimeException e) {
                    slot.failed(s, e);
                    free(s);
                    continue;
                }
                if (stop != null) {
                    slot.finish(s, stop);
                    free(s);
                }
            }
        }
        Stats was = stats;
        stats = new Stats(was.decodes + 1, was.tokens + batch.size(), was.busySlots + busy,
                was.decodeNanos + decodeNanos, was.stepNanos + System.nanoTime() - stepStart);
        return hasWork();
    }

    /**
     * Drives the scheduler on the calling thread: steps while there is work, waits for more when there is none, and
     * returns when {@link #close()} is called (from another thread, or from a listener).
     *
     * @throws IllegalStateException when another thread is already running it
     */
    public void run() {
        lock.lock();
        try {
            if (runner != null) {
                throw new IllegalStateException("already running on " + runner.getName());
            }
            runner = Thread.currentThread();
        } finally {
            lock.unlock();
        }
        try {
            while (true) {
                lock.lock();
                try {
                    while (!closing && queue.isEmpty() && cancelled.isEmpty() && activeCount == 0) {
                        changed.awaitUninterruptibly();
                    }
                    if (closing) {
                        return;
                    }
                } finally {
                    lock.unlock();
                }
                step();
            }
        } finally {
            lock.lock();
            try {
                runner = null;
                changed.signalAll();
            } finally {
                lock.unlock();
            }
        }
    }

    /** Steps until no job is queued or running (a batch that knows all its jobs up front). */
    public void runUntilIdle() {
        while (step()) {
            // each step decodes once
        }
    }

    /**
     * Takes no more jobs, makes {@link #run()} return after its current step (waiting for it when called from
     * another thread), ends every job still queued or running as {@link StopReason#CANCELLED}, and frees the batch.
     * Idempotent.
     */
    @Override
    public void close() {
        lock.lock();
        try {
            closing = true;
            changed.signalAll();
            Thread current = Thread.currentThread();
            while (runner != null && runner != current) {
                changed.awaitUninterruptibly();
            }
            if (runner == current) {
                return;  // from a listener inside run(): run() returns after this step, the next close() cleans up
            }
        } finally {
            lock.unlock();
        }
        try {
            for (int s = 0; s < slotCount; s++) {
                Slot<?> slot = slots[s];
                if (slot != null) {
                    slot.finish(s, StopReason.CANCELLED);
                    free(s);
                }
            }
            Entry<?> e;
            while ((e = poll()) != null) {
                e.cancelledBeforeStart();
            }
        } finally {
            batch.close();
        }
    }

    private Entry<?> poll() {
        lock.lock();
        try {
            return queue.poll();
        } finally {
            lock.unlock();
        }
    }

    private int activeSlots() {
        int n = 0;
        for (Slot<?> s : slots) {
            n += s != null ? 1 : 0;
        }
        return n;
    }

    /** Ends a cancelled job where it is now: in a slot (freed), or in the queue. */
    private void endCancelled(Job job) {
        for (int s = 0; s < slotCount; s++) {
            Slot<?> slot = slots[s];
            if (slot != null && slot.entry.job == job) {
                slot.finish(s, StopReason.CANCELLED);
                free(s);
                return;
            }
        }
        Entry<?> queued = null;
        lock.lock();
        try {
            for (Entry<?> e : queue) {
                if (e.job == job) {
                    queued = e;
                    break;
                }
            }
            if (queued != null) {
                queue.remove(queued);
            }
        } finally {
            lock.unlock();
        }
        if (queued != null) {
            queued.cancelledBeforeStart();
        }
    }

    /** Slot {@code s} is free again: its sequence is cleared, its sampler freed. */
    private void free(int s) {
        Slot<?> slot = slots[s];
        slots[s] = null;
        slot.close();
        if (context.isOpen()) {
            context.removeTokens(s, 0, -1);
        }
        lock.lock();
        try {
            activeCount--;
        } finally {
            lock.unlock();
        }
    }

    /** The job of {@code entry} in slot {@code s}, or null when it cannot run (reported) or needs no decode. */
    private <J extends Job> Slot<J> admit(Entry<J> entry, int s) {
        J job = entry.job;
        int[] prompt;
        try {
            prompt = job.prompt();
            if (prompt.length == 0) {
                throw new IllegalArgumentException("prompt is empty");
            }
            if (prompt.length >= slotLimit) {
                throw new IllegalArgumentException("prompt of " + prompt.length + " tokens does not fit in a slot of "
                        + slotLimit + " tokens (context " + context.contextSize() + " / " + slotCount
                        + " slots); use a larger -c or a smaller --parallel");
            }
            if (job.maxTokens() < 0) {
                throw new IllegalArgumentException("max_tokens must be >= 0, got " + job.maxTokens());
            }
            for (int t : prompt) {
                context.model().tokenizer().checkToken(t);
            }
        } catch (RuntimeException e) {
            entry.ended();
            entry.listener.failed(job, -1, e);
            return null;
        }
        context.removeTokens(s, 0, -1);
        Sampler sampler = new Sampler(job.sampling());
        Slot<J> slot = new Slot<>(entry, prompt, sampler, new DecodeStep(context, sampler, job.maxTokens(), slotLimit,
                job.logprobs()));
        lock.lock();
        try {
            activeCount++;
        } finally {
            lock.unlock();
        }
        try {
            entry.listener.started(job, s);
        } catch (RuntimeException e) {
            slots[s] = slot;
            slot.failed(s, e);
            free(s);
            return null;
        }
        if (job.maxTokens() == 0) {
            slots[s] = slot;
            slot.finish(s, StopReason.MAX_TOKENS);
            free(s);
            return null;
        }
        return slot;
    }

    /** Samples the slot's next token (stop check and text as a single stream does them); why the job ends, or null. */
    private <J extends Job> StopReason sample(Slot<J> slot, int s) {
        DecodeStep.Outcome o = slot.step.next(slot.outputIndex, slot.position);
        if (slot.firstToken == 0) {
            slot.firstToken = System.nanoTime();
        }
        slot.tokens.add(o.token().id());
        slot.textSoFar.append(o.token().text());
        slot.entry.listener.token(slot.entry.job, s, o.token(), slot.outputIndex);
        if (o.stop() != null) {
            return o.stop();
        }
        slot.pending = o.token().id();
        slot.generatingNext = true;
        return null;
    }

    /** A job and where its events go. */
    private final class Entry<J extends Job> {
        final J job;
        final Listener<? super J> listener;

        Entry(J job, Listener<? super J> listener) {
            this.job = job;
            this.listener = listener;
        }

        /** The job leaves the scheduler's books (before its listener hears why). */
        void ended() {
            lock.lock();
            try {
                live.remove(job);
                cancelled.remove(job);
            } finally {
                lock.unlock();
            }
        }

        void cancelledBeforeStart() {
            ended();
            long now = System.nanoTime();
            listener.finished(job, -1, new Outcome(new int[0], "", StopReason.CANCELLED, job.prompt().length, now, now,
                    now));
        }
    }

    private final class Slot<J extends Job> {
        final Entry<J> entry;
        final int[] prompt;
        final Sampler sampler;
        final DecodeStep step;
        final long start = System.nanoTime();
        long firstToken;
        final List<Integer> tokens = new ArrayList<>();
        final StringBuilder textSoFar = new StringBuilder();
        int prefilled;
        /** The next free position of the sequence (where the pending token goes). */
        int position;
        int pending;
        boolean generatingNext;
        int outputIndex = -1;
        boolean closed;

        Slot(Entry<J> entry, int[] prompt, Sampler sampler, DecodeStep step) {
            this.entry = entry;
            this.prompt = prompt;
            this.sampler = sampler;
            this.step = step;
        }

        void close() {
            if (!closed) {
                closed = true;
                sampler.close();
            }
        }

        void finish(int s, StopReason reason) {
            close();
            entry.ended();
            entry.listener.finished(entry.job, s, outcome(reason));
        }

        void failed(int s, RuntimeException e) {
            close();
            entry.ended();
            entry.listener.failed(entry.job, s, e);
        }

        Outcome outcome(StopReason reason) {
            return new Outcome(tokens.stream().mapToInt(Integer::intValue).toArray(), textSoFar.toString(), reason,
                    prompt.length, start, firstToken == 0 ? System.nanoTime() : firstToken, System.nanoTime());
        }
    }
}
