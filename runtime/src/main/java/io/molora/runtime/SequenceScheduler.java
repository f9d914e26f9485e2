package io.molora.runtime;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * Continuous batching: up to {@code slots} sequences decode together in one context, each with its own sampler; when
 * one finishes its slot takes the next job at once, while the others keep generating. Each decode carries one
 * generated token per generating slot plus as many prompt tokens of newly started jobs as fit in the batch (a long
 * prompt is prefilled over several decodes, interleaved with generation).
 *
 * <p>Slot {@code i} is sequence id {@code i} of the context (which needs {@code maxSequences >= slots}); each slot may
 * use at most {@code contextSize / slots} positions. The decoder sees mixed batches, so a router can route each
 * sequence (or each token) differently in the same decode. Not thread-safe except {@link #cancel()}.
 */
public final class SequenceScheduler implements AutoCloseable {
    /** One generation request. */
    public interface Job {
        int[] prompt();

        /** Tokens to generate at most (>= 0; generation also stops at end-of-generation or a full slot). */
        int maxTokens();

        SamplerParams sampling();
    }

    /** What the scheduler reports, from the thread that calls {@link #run}. */
    public interface Listener<J extends Job> {
        /** The job got slot {@code slot}; called before any of its tokens is decoded (set its routes here). */
        default void started(J job, int slot) {}

        /**
         * A token was generated; {@code batchIndex} is the index, in the last decoded batch, of the output it was
         * sampled from (the decoder's routes for that index are the routes that produced it).
         */
        default void token(J job, int slot, GeneratedToken token, int batchIndex) {}

        /** The job ended (also when cancelled: then the outcome's reason is {@link StopReason#CANCELLED}). */
        void finished(J job, int slot, Outcome outcome);

        /** The job could not run (e.g. its prompt does not fit in a slot); the others go on. */
        default void failed(J job, RuntimeException error) {}
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
    private volatile boolean cancelled;
    private long decodes;
    private long decodedTokens;

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

    /** Decodes so far, and tokens they carried (prompt + generated). */
    public long decodes() {
        return decodes;
    }

    public long decodedTokens() {
        return decodedTokens;
    }

    /** Makes {@link #run} return after the current decode; jobs in flight finish as {@link StopReason#CANCELLED}. */
    public void cancel() {
        cancelled = true;
    }

    public boolean isCancelled() {
        return cancelled;
    }

    /**
     * Runs jobs from {@code next} (null = no more) until all are done or {@link #cancel()} is called.
     */
    @SuppressWarnings("unchecked")
    public <J extends Job> void run(Supplier<J> next, Listener<J> listener) {
        boolean exhausted = false;
        try {
            while (!cancelled) {
                // 1. refill free slots
                for (int s = 0; s < slotCount && !exhausted; s++) {
                    while (slots[s] == null && !exhausted) {
                        J job = next.get();
                        if (job == null) {
                            exhausted = true;
                        } else {
                            slots[s] = admit(job, s, listener);
                        }
                    }
                }
                if (active() == 0) {
                    return;
                }
                // 2. one batch: a generated token per generating slot, then prompt chunks
                batch.clear();
                int capacity = batch.capacity();
                for (int s = 0; s < slotCount; s++) {
                    Slot<?> slot = slots[s];
                    if (slot != null && slot.generating()) {
                        slot.outputIndex = batch.add(slot.pending, slot.position, s, true);
                        slot.position++;
                    } else if (slot != null) {
                        slot.outputIndex = -1;
                    }
                }
                for (int s = 0; s < slotCount && batch.size() < capacity; s++) {
                    Slot<?> slot = slots[s];
                    if (slot == null || slot.generating()) {
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
                decoder.decode(batch);
                decodes++;
                decodedTokens += batch.size();
                // 3. sample for every slot that has an output in this batch
                for (int s = 0; s < slotCount; s++) {
                    Slot<J> slot = (Slot<J>) slots[s];
                    if (slot == null || slot.outputIndex < 0) {
                        continue;
                    }
                    if (step(slot, s, listener)) {
                        slots[s] = null;
                        context.removeTokens(s, 0, -1);
                    }
                }
            }
        } finally {
            for (int s = 0; s < slotCount; s++) {
                Slot<J> slot = (Slot<J>) slots[s];
                if (slot != null) {
                    slots[s] = null;
                    slot.close();
                    if (context.isOpen()) {
                        context.removeTokens(s, 0, -1);
                    }
                    listener.finished(slot.job, s, slot.outcome(StopReason.CANCELLED));
                }
            }
        }
    }

    private int active() {
        int n = 0;
        for (Slot<?> s : slots) {
            if (s != null) {
                n++;
            }
        }
        return n;
    }

    private <J extends Job> Slot<J> admit(J job, int s, Listener<J> listener) {
        int[] prompt = job.prompt();
        try {
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
            listener.failed(job, e);
            return null;
        }
        context.removeTokens(s, 0, -1);
        Sampler sampler = new Sampler(job.sampling());
        Slot<J> slot = new Slot<>(job, prompt, sampler, new DecodeStep(context, sampler, job.maxTokens(), slotLimit));
        listener.started(job, s);
        if (job.maxTokens() == 0) {
            slot.close();
            listener.finished(job, s, slot.outcome(StopReason.MAX_TOKENS));
            return null;
        }
        return slot;
    }

    /** Samples the slot's next token (stop check and text as a single stream does them); true when the job is finished. */
    private <J extends Job> boolean step(Slot<J> slot, int s, Listener<J> listener) {
        DecodeStep.Outcome o = slot.step.next(slot.outputIndex, slot.position);
        if (slot.firstToken == 0) {
            slot.firstToken = System.nanoTime();
        }
        slot.tokens.add(o.token().id());
        slot.textSoFar.append(o.token().text());
        listener.token(slot.job, s, o.token(), slot.outputIndex);
        if (o.stop() != null) {
            slot.close();
            listener.finished(slot.job, s, slot.outcome(o.stop()));
            return true;
        }
        slot.pending = o.token().id();
        slot.generatingNext = true;
        return false;
    }

    @Override
    public void close() {
        batch.close();
    }

    private static final class Slot<J extends Job> {
        final J job;
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

        Slot(J job, int[] prompt, Sampler sampler, DecodeStep step) {
            this.job = job;
            this.prompt = prompt;
            this.sampler = sampler;
            this.step = step;
        }

        boolean generating() {
            return generatingNext;
        }

        void close() {
            if (!closed) {
                closed = true;
                sampler.close();
            }
        }

        Outcome outcome(StopReason reason) {
            return new Outcome(tokens.stream().mapToInt(Integer::intValue).toArray(), textSoFar.toString(), reason,
                    prompt.length, start, firstToken == 0 ? System.nanoTime() : firstToken, System.nanoTime());
        }
    }
}
