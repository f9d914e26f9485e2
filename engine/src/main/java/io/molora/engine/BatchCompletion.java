package io.molora.engine;

import io.molora.runtime.StopReason;
import java.util.List;

/**
 * {@link Engine#complete}: a batch known up front, run through a {@link CompletionService} on the caller's thread
 * until every request has ended; results go to the sink in completion order.
 */
final class BatchCompletion {
    private final Engine engine;
    private final CompletionSettings settings;
    private final CompletionSink sink;

    BatchCompletion(Engine engine, CompletionSettings settings, CompletionSink sink) {
        this.engine = engine;
        this.settings = settings;
        this.sink = sink;
    }

    /** Completes every request; returns what the decodes did. */
    DecodeStats run(List<CompletionRequest> requests) {
        // adapters per token: the largest mix any request asks for
        int k = settings.defaultAdapters().map(m -> m.weights().size()).orElse(engine.adapterNames().size());
        for (CompletionRequest r : requests) {
            k = Math.max(k, r.adapters().map(m -> m.weights().size()).orElse(0));
        }
        try (CompletionService service = new CompletionService(engine, settings, Integer.MAX_VALUE, k)) {
            for (CompletionRequest r : requests) {
                try {
                    service.submit(r, settings.traceRoutes(), new CompletionService.Listener() {
                        @Override
                        public void text(List<Completion.TokenRoute> pieces) {
                            pieces.forEach(p -> sink.token(r));
                        }

                        @Override
                        public void completed(Completion c) {
                            if (c.stopReason() != StopReason.CANCELLED) {
                                sink.completed(c);  // cancelled in flight: not reported, a rerun does it
                            }
                        }

                        @Override
                        public void failed(String message) {
                            sink.failed(r, message);
                        }
                    });
                } catch (IllegalArgumentException e) {
                    sink.failed(r, e.getMessage());
                }
            }
            service.runUntilIdle();
            return service.decodeStats();
        }
    }
}
