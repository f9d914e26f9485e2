package io.molora.engine;

import io.molora.adapters.routers.MixedRouter;
import io.molora.adapters.routers.SlotRouter;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.Context;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.Router;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.SequenceScheduler;
import io.molora.runtime.StopReason;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * {@link Engine#complete}: continuous batching of requests over {@code parallel} sequences of one context, each
 * request with its own sampler and adapters — a fixed mix per sequence, or the engine's token router for requests
 * that name none — in the same decodes.
 */
final class BatchCompletion {
    private final Engine engine;
    private final CompletionSettings settings;
    private final CompletionSink sink;
    private final List<String> names;
    private final AdapterMix defaultMix;
    private final boolean tokenRouted;
    private ChatTemplate template;

    BatchCompletion(Engine engine, CompletionSettings settings, CompletionSink sink) {
        this.engine = engine;
        this.settings = settings;
        this.sink = sink;
        this.names = engine.adapterNames();
        this.defaultMix = settings.defaultAdapters().orElse(AdapterMix.all(names));
        defaultMix.ids(names);  // every name loaded
        // requests that name no adapter follow the token router, unless the run names a default mix
        this.tokenRouted = engine.routing().router() != null && settings.defaultAdapters().isEmpty();
    }

    /** One request on its way through the scheduler. */
    private static final class Task implements SequenceScheduler.Job {
        final CompletionRequest request;
        final int[] prompt;
        final AdapterMix mix;
        final boolean fixed;
        final Map<String, Integer> adapterTokens = new LinkedHashMap<>();
        final List<Completion.TokenRoute> routes = new ArrayList<>();
        GeneratedToken last;

        Task(CompletionRequest request, int[] prompt, AdapterMix mix, boolean fixed) {
            this.request = request;
            this.prompt = prompt;
            this.mix = mix;
            this.fixed = fixed;
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
    }

    void run(List<CompletionRequest> requests) {
        int parallel = settings.parallel();
        // k: the largest mix any request asks for
        int k = Math.max(1, defaultMix.weights().size());
        for (CompletionRequest r : requests) {
            k = Math.max(k, r.adapters().map(m -> m.weights().size()).orElse(0));
        }
        ArrayDeque<CompletionRequest> queue = new ArrayDeque<>(requests);
        try (Context ctx = Context.create(engine.model(), engine.contextParams().withMaxSequences(parallel))) {
            SlotRouter fixed = names.isEmpty() ? null : new SlotRouter(parallel, Math.min(k, names.size()));
            Router tokens = engine.routing().router();
            MixedRouter mixed = tokens == null || fixed == null ? null : new MixedRouter(tokens, fixed, parallel);
            Router router = mixed != null ? mixed : fixed;
            try (DecodePath path = engine.decodePath(ctx, router, false);
                 SequenceScheduler scheduler = new SequenceScheduler(ctx, path.decoder(), parallel)) {
                scheduler.run(() -> next(queue), new SequenceScheduler.Listener<Task>() {
                    @Override
                    public void started(Task t, int slot) {
                        if (fixed != null) {
                            fixed.set(slot, t.mix.ids(names), t.mix.weightArray());
                        }
                        if (mixed != null) {
                            mixed.start(slot, t.fixed);
                        }
                        engine.prefillHiddenStates(router, slot, t.prompt);
                    }

                    @Override
                    public void token(Task t, int slot, GeneratedToken token, int batchIndex) {
                        sink.token(t.request);
                        if (!path.routed()) {
                            return;
                        }
                        // a token's route is the one it is decoded with: the previous token's is known now
                        if (t.last != null) {
                            record(t, t.last, Route.used(path.lastRoutes(), batchIndex));
                        }
                        t.last = token;
                    }

                    @Override
                    public void finished(Task t, int slot, SequenceScheduler.Outcome o) {
                        if (o.stopReason() == StopReason.CANCELLED) {
                            return;  // in flight when stopped: not reported, a rerun does it
                        }
                        if (path.routed() && t.last != null) {
                            // the last token is never decoded: ask the router what its route would be
                            record(t, t.last, path.undecoded(slot, t.last.id(), t.last.position(), Route::used));
                        }
                        sink.completed(new Completion(t.request, o.text(), o.stopReason(), o.promptTokens(),
                                o.tokens().length, t.adapterTokens, t.routes, o.firstTokenNanos() - o.startNanos(),
                                o.endNanos() - o.firstTokenNanos()));
                    }

                    @Override
                    public void failed(Task t, RuntimeException e) {
                        sink.failed(t.request, e.getMessage());
                    }
                });
            }
        }
    }

    /** The next request that can run (those that cannot are reported failed), or null when none is left. */
    private Task next(ArrayDeque<CompletionRequest> queue) {
        while (!queue.isEmpty()) {
            CompletionRequest r = queue.poll();
            try {
                return task(r);
            } catch (RuntimeException e) {
                sink.failed(r, e.getMessage());
            }
        }
        return null;
    }

    private Task task(CompletionRequest r) {
        String text = switch (r.prompt()) {
            case Prompt.Text t -> t.text();
            case Prompt.Chat c -> {
                if (template == null) {
                    template = ChatTemplate.of(engine.model());
                }
                yield template.apply(c.messages(), true);
            }
        };
        int[] tokens = engine.tokenize(text);
        AdapterMix mix = r.adapters().orElse(defaultMix);
        mix.ids(names);  // every name loaded
        return new Task(r, tokens, mix, r.adapters().isPresent() || !tokenRouted);
    }

    /** Counts (and when tracing, lists) {@code route} as the route of {@code token}. */
    private void record(Task t, GeneratedToken token, Route route) {
        route.countInto(t.adapterTokens, names);
        if (settings.traceRoutes()) {
            t.routes.add(new Completion.TokenRoute(token.text(), route));
        }
    }
}
