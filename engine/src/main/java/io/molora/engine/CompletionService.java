package io.molora.engine;

import io.molora.adapters.routers.MixedRouter;
import io.molora.adapters.routers.SlotRouter;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Context;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Router;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.SequenceScheduler;
import io.molora.runtime.StopReason;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The one batch loop: completion requests pushed from any thread, decoded together over {@code parallel} sequences
 * of one context (continuous batching), each with its own sampler, adapters (a fixed mix, or the engine's token
 * router for requests that name none) and stop strings, in the same decodes. Each request's text is streamed to its
 * own {@link Listener} piece by piece with the route every token was decoded with. {@link Engine#complete} (the
 * {@code complete} command) and the HTTP server are both users of it.
 *
 * <p>Threads: {@link #submit} and {@link Ticket#cancel} from any thread; the batch loop runs either on a thread of its
 * own ({@link #start()}) or on the caller's ({@link #runUntilIdle()}). Listeners are called on the loop's thread, so a
 * slow listener slows every request: hand the events on, do not block.
 */
public final class CompletionService implements AutoCloseable {
    /** A request's events, on the batch loop's thread. */
    public interface Listener {
        /** The request got a sequence; its prompt is being decoded. */
        default void started() {}

        /**
         * More of the text, as generated tokens' pieces, each with its route; their concatenation is the next part of
         * the text. Text that may be the start of a stop string is held back until it is known not to be.
         */
        default void text(List<Completion.TokenRoute> pieces) {}

        /** The request ended: its whole text; {@link StopReason#CANCELLED} when cancelled. */
        void completed(Completion completion);

        /** The request could not run, or its decode failed; one line. */
        void failed(String message);
    }

    /** Thrown by {@link #submit} when as many requests as the queue holds are already waiting for a sequence. */
    public static final class QueueFullException extends RuntimeException {
        private static final long serialVersionUID = 1L;

        QueueFullException(int limit) {
            super("the queue is full (" + limit + " requests waiting); try again later");
        }
    }

    /** A submitted request: cancel it (a client that went away) from any thread. */
    public interface Ticket {
        CompletionRequest request();

        /** Ends the request at the next step (its listener hears {@link StopReason#CANCELLED}); false if it had ended. */
        boolean cancel();
    }

    private final Engine engine;
    private final CompletionSettings settings;
    private final int queueLimit;
    private final List<String> names;
    private final AdapterMix defaultMix;
    private final boolean tokenRouted;
    private final ChatTemplate template;
    private final Context context;
    private final SlotRouter fixed;
    private final MixedRouter mixed;
    private final Router router;
    private final DecodePath path;
    private final SequenceScheduler scheduler;
    private final Object idle = new Object();
    private int inFlight;
    private volatile boolean accepting = true;
    private Thread loop;

    /**
     * A context of {@code settings.parallel()} sequences and its decode path over the engine's adapters and router.
     *
     * @param queueLimit  requests that may wait for a sequence; more are refused
     * @param maxMix      the largest fixed mix a request may ask for (adapters per token)
     */
    CompletionService(Engine engine, CompletionSettings settings, int queueLimit, int maxMix) {
        if (queueLimit < 0) {
            throw new IllegalArgumentException("queue limit must be >= 0, got " + queueLimit);
        }
        this.engine = engine;
        this.settings = settings;
        this.queueLimit = queueLimit;
        this.names = engine.adapterNames();
        this.defaultMix = settings.defaultAdapters().orElse(AdapterMix.all(names));
        defaultMix.ids(names);  // every name loaded
        // requests that name no adapter follow the token router, unless the settings name a default mix
        this.tokenRouted = engine.routing().router() != null && settings.defaultAdapters().isEmpty();
        this.template = ChatTemplate.of(engine.model());
        int parallel = settings.parallel();
        int k = Math.max(1, Math.max(defaultMix.weights().size(), Math.min(maxMix, names.size())));
        this.context = Context.create(engine.model(), engine.contextParams().withMaxSequences(parallel));
        DecodePath p = null;
        try {
            this.fixed = names.isEmpty() ? null : new SlotRouter(parallel, Math.min(k, names.size()));
            Router tokens = engine.routing().router();
            this.mixed = tokens == null || fixed == null ? null : new MixedRouter(tokens, fixed, parallel);
            this.router = mixed != null ? mixed : fixed;
            p = engine.decodePath(context, router, false);
            this.scheduler = new SequenceScheduler(context, p.decoder(), parallel);
            this.path = p;
        } catch (RuntimeException e) {
            if (p != null) {
                p.close();
            }
            context.close();
            throw e;
        }
    }

    /** Positions one request may use (prompt + generated): the context size divided by the sequences. */
    public int sequenceLimit() {
        return scheduler.slotLimit();
    }

    public int parallel() {
        return scheduler.slots();
    }

    /** Requests waiting for a sequence. */
    public int queued() {
        return scheduler.queued();
    }

    /** Requests decoding now. */
    public int active() {
        return scheduler.active();
    }

    /** The batch loop's decodes so far: counts, occupancy and time (any thread). */
    public DecodeStats decodeStats() {
        return DecodeStats.of(scheduler.stats());
    }

    /** The adapters requests may name, in route-id order. */
    public List<String> adapterNames() {
        return names;
    }

    /** Whether requests that name no adapter are routed token by token (the engine has a token router). */
    public boolean tokenRouted() {
        return tokenRouted;
    }

    /**
     * Queues a request. Its prompt is formatted and tokenized here, on the caller's thread, so a bad request is
     * refused at once.
     *
     * @param traceRoutes also list every token's route in the {@link Completion} (the pieces always carry them)
     * @throws IllegalArgumentException naming what is wrong with the request (an adapter not loaded, an empty
     *                                  prompt, a prompt that does not fit a sequence, a chat the template refuses)
     * @throws QueueFullException       when the queue is full
     * @throws IllegalStateException    when the service no longer takes requests
     */
    public Ticket submit(CompletionRequest request, boolean traceRoutes, Listener listener) {
        Task task = task(request, traceRoutes, listener);
        synchronized (idle) {
            if (!accepting) {
                throw new IllegalStateException("the server is shutting down");
            }
            if (scheduler.queued() >= queueLimit) {
                throw new QueueFullException(queueLimit);
            }
            scheduler.submit(task, events);
            inFlight++;
        }
        return task;
    }

    /** Runs the batch loop on a thread of its own until {@link #close()}. */
    public synchronized void start() {
        if (loop != null) {
            throw new IllegalStateException("already started");
        }
        loop = Thread.ofPlatform().name("molora-batch").start(scheduler::run);
    }

    /** Runs the batch loop on the calling thread until no request is queued or decoding. */
    public void runUntilIdle() {
        scheduler.runUntilIdle();
    }

    /** Takes no more requests ({@link #submit} throws {@link IllegalStateException}); those in flight go on. */
    public void stopAccepting() {
        synchronized (idle) {
            accepting = false;
        }
    }

    public boolean accepting() {
        return accepting;
    }

    /** Waits until no request is queued or decoding, at most {@code timeout}; true if that happened. */
    public boolean awaitIdle(Duration timeout) throws InterruptedException {
        long end = System.nanoTime() + timeout.toNanos();
        synchronized (idle) {
            while (inFlight > 0) {
                long left = end - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                idle.wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }
    }

    /**
     * Stops the loop (after its current decode), ends every request still queued or decoding as
     * {@link StopReason#CANCELLED}, frees the context. Idempotent.
     */
    @Override
    public void close() {
        stopAccepting();
        try {
            scheduler.close();
            Thread t;
            synchronized (this) {
                t = loop;
            }
            if (t != null && t != Thread.currentThread()) {
                t.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            path.close();
            context.close();
        }
    }

    private Task task(CompletionRequest r, boolean traceRoutes, Listener listener) {
        String text = switch (r.prompt()) {
            case Prompt.Text t -> t.text();
            case Prompt.Chat c -> {
                try {
                    yield template.apply(c.messages(), true);
                } catch (LlamaException e) {
                    throw new IllegalArgumentException(e.getMessage(), e);
                }
            }
        };
        if (r.maxTokens() < 0) {
            throw new IllegalArgumentException("max_tokens must be >= 0, got " + r.maxTokens());
        }
        int[] tokens = engine.tokenizeWithin(text, sequenceLimit(), "a slot of " + sequenceLimit() + " tokens (context "
                + context.contextSize() + " / " + parallel() + " slots)", "use a larger -c or a smaller --parallel");
        AdapterMix mix = r.adapters().orElse(defaultMix);
        mix.ids(names);  // every name loaded
        if (mix.weights().size() > (fixed == null ? 0 : fixed.maxAdaptersPerToken())) {
            throw new IllegalArgumentException("a mix of " + mix.weights().size() + " adapters, but this service mixes at most "
                    + (fixed == null ? 0 : fixed.maxAdaptersPerToken()));
        }
        return new Task(r, tokens, mix, r.adapters().isPresent() || !tokenRouted, traceRoutes, listener);
    }

    /** One request on its way through the scheduler, and what it has produced so far. */
    private final class Task implements SequenceScheduler.Job, Ticket {
        final CompletionRequest request;
        final int[] prompt;
        final AdapterMix mix;
        final boolean fixedMix;
        final boolean traceRoutes;
        final Listener listener;
        final int longestStop;
        final Map<String, Integer> adapterTokens = new LinkedHashMap<>();
        final List<Completion.TokenRoute> routes = new ArrayList<>();
        /** Pieces whose text is known but not handed out yet (it may be the start of a stop string). */
        final ArrayDeque<Completion.TokenRoute> held = new ArrayDeque<>();
        final StringBuilder text = new StringBuilder();
        int released;
        int accepted;
        /** The last sampled token, waiting for the route it is decoded with. */
        GeneratedToken last;
        /** Where the text reached a stop string, or -1. */
        int stopAt = -1;

        Task(CompletionRequest request, int[] prompt, AdapterMix mix, boolean fixedMix, boolean traceRoutes,
                Listener listener) {
            this.request = request;
            this.prompt = prompt;
            this.mix = mix;
            this.fixedMix = fixedMix;
            this.traceRoutes = traceRoutes;
            this.listener = listener;
            this.longestStop = request.stop().stream().mapToInt(String::length).max().orElse(0);
        }

        @Override
        public int[] prompt() {
            return prompt;
        }

        @Override
        public int maxTokens() {
            return request.maxTokens();
        }

        @Override
        public SamplerParams sampling() {
            return request.sampling();
        }

        @Override
        public int logprobs() {
            return request.logprobs();
        }

        @Override
        public CompletionRequest request() {
            return request;
        }

        @Override
        public boolean cancel() {
            return scheduler.cancel(this);
        }

        /** A token and the route it was decoded with: counted, added to the text, handed out when safe. */
        void accept(GeneratedToken token, Route route) {
            if (stopAt >= 0) {
                return;  // past a stop string: sampled before the cut took effect
            }
            accepted++;
            route.countInto(adapterTokens, names);
            int from = Math.max(0, text.length() - longestStop + 1);
            text.append(token.text());
            held.add(new Completion.TokenRoute(token.text(), route, token.logprobs()));
            // 1. a stop string in the text: cut there, hand out what is before it, end the request
            int cut = -1;
            for (String s : request.stop()) {
                int at = text.indexOf(s, from);
                if (at >= 0 && (cut < 0 || at < cut)) {
                    cut = at;
                }
            }
            if (cut >= 0) {
                stopAt = cut;
                release(cut);
                scheduler.cancel(this);
                return;
            }
            // 2. hold back a tail that may be the start of a stop string
            int hold = 0;
            for (String s : request.stop()) {
                for (int n = Math.min(s.length() - 1, text.length()); n > hold; n--) {
                    if (text.substring(text.length() - n).equals(s.substring(0, n))) {
                        hold = n;
                        break;
                    }
                }
            }
            release(text.length() - hold);
        }

        /** Hands out the held pieces that end at or before {@code end}; a piece across {@code end} when cutting. */
        void release(int end) {
            List<Completion.TokenRoute> out = new ArrayList<>();
            while (!held.isEmpty() && released + held.peek().text().length() <= end) {
                Completion.TokenRoute p = held.poll();
                released += p.text().length();
                out.add(p);
            }
            if (stopAt >= 0 && !held.isEmpty() && released < end) {
                Completion.TokenRoute p = held.poll();
                out.add(new Completion.TokenRoute(p.text().substring(0, end - released), p.route(), p.logprobs()));
                released = end;
            }
            if (!out.isEmpty()) {
                if (traceRoutes) {
                    routes.addAll(out);
                }
                listener.text(out);
            }
        }

        Completion completion(SequenceScheduler.Outcome o) {
            boolean cut = stopAt >= 0;
            return new Completion(request, cut ? text.substring(0, stopAt) : o.text(),
                    cut ? StopReason.STOP_STRING : o.stopReason(), o.promptTokens(),
                    cut ? accepted : o.tokens().length, adapterTokens, routes, o.firstTokenNanos() - o.startNanos(),
                    o.endNanos() - o.firstTokenNanos());
        }
    }

    private void ended() {
        synchronized (idle) {
            inFlight--;
            idle.notifyAll();
        }
    }

    /** The scheduler's events, turned into each request's. */
    private final SequenceScheduler.Listener<Task> events = new SequenceScheduler.Listener<>() {
        @Override
        public void started(Task t, int slot) {
            if (fixed != null) {
                fixed.set(slot, t.mix.ids(names), t.mix.weightArray());
            }
            if (mixed != null) {
                mixed.start(slot, t.fixedMix);
            }
            if (t.fixedMix) {
                engine.routing().skipSequence(slot);  // its adapters are its request's: no base pass to route by
            } else {
                engine.routing().startSequence(slot, t.prompt);
            }
            t.listener.started();
        }

        @Override
        public void token(Task t, int slot, GeneratedToken token, int batchIndex) {
            if (!path.routed()) {
                t.accept(token, Route.BASE);
                return;
            }
            // a token's route is the one it is decoded with: the previous token's is known now
            if (t.last != null) {
                t.accept(t.last, Route.used(path.lastRoutes(), batchIndex));
            }
            t.last = token;
        }

        @Override
        public void finished(Task t, int slot, SequenceScheduler.Outcome o) {
            try {
                if (path.routed() && t.last != null && t.stopAt < 0 && o.stopReason() != StopReason.CANCELLED) {
                    // the last token is never decoded: ask the router what its route would be
                    t.accept(t.last, path.undecoded(slot, t.last.id(), t.last.position(), Route::used));
                }
                if (t.stopAt < 0) {
                    t.release(t.text.length());
                }
                t.listener.completed(t.completion(o));
            } finally {
                ended();
            }
        }

        @Override
        public void failed(Task t, int slot, RuntimeException e) {
            try {
                t.listener.failed(e.getMessage());
            } finally {
                ended();
            }
        }
    };
}
