package io.molora.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.Gate;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.ContextParams;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.StopReason;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The completion service, the one batch loop: requests pushed from several threads while it runs come out as the
 * engine's batch of the same requests run one at a time; a cancelled request ends at once and frees its sequence; the
 * queue is bounded; stop strings cut the text and are never handed out.
 */
class CompletionServiceTest {
    @TempDir
    static Path dir;
    static Path model;
    static List<AdapterSpec> adapters;
    static Path tokenRouter;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 11);
        adapters = List.of(
                new AdapterSpec("code", NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1)), 1f),
                new AdapterSpec("math", NativeTestSupport.writeLora(dir, LoraSpec.attention("math", 4, 2)), 1f));
        try (TokenEmbeddings emb = TokenEmbeddings.open(model)) {
            tokenRouter = dir.resolve("token.gguf");
            RouterFile.save(tokenRouter, Gate.untrained(emb.dim(), 8, 3, 7),
                    RouterFile.identity(adapters, emb, RouterFile.FEATURES_TOKEN));
        }
    }

    static Engine open() {
        return Engine.open(EngineSpec.of(model).withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(1024))
                .withAdapters(adapters, new RouterSpec.Learned(tokenRouter)));
    }

    static List<CompletionRequest> requests() {
        List<CompletionRequest> out = new ArrayList<>();
        String[] prompts = {"Once upon a time", "def f(x):", "1 + 1 =", "The quick brown fox", "In the beginning",
                "Call me Ishmael", "It was a dark", "Hello"};
        List<Optional<AdapterMix>> mixes = List.of(Optional.empty(), Optional.of(AdapterMix.parse("code", List.of("code", "math"))),
                Optional.of(new AdapterMix(Map.of("math", 0.5f))), Optional.of(AdapterMix.none()));
        for (int i = 0; i < prompts.length; i++) {
            out.add(new CompletionRequest("r" + i, new Prompt.Text(prompts[i]), 4 + 3 * i, SamplerParams.greedy(),
                    mixes.get(i % mixes.size())));
        }
        return out;
    }

    /** Each request's completion from a batch on one sequence (one at a time). */
    static Map<String, Completion> alone(Engine e, List<CompletionRequest> requests) {
        return complete(e, requests, 1);
    }

    /** Each request's completion, by id, from a batch over {@code parallel} sequences (routes traced). */
    static Map<String, Completion> complete(Engine e, List<CompletionRequest> requests, int parallel) {
        Map<String, Completion> out = new ConcurrentHashMap<>();
        e.complete(requests, new CompletionSettings(parallel, Optional.empty(), true), new CompletionSink() {
            @Override
            public void completed(Completion c) {
                out.put(c.request().id(), c);
            }

            @Override
            public void failed(CompletionRequest request, String message) {
                throw new AssertionError(message);
            }
        });
        return out;
    }

    /** Collects one request's events. */
    static class Collector implements CompletionService.Listener {
        final StringBuilder streamed = new StringBuilder();
        final List<Completion.TokenRoute> pieces = Collections.synchronizedList(new ArrayList<>());
        final CountDownLatch done = new CountDownLatch(1);
        volatile Completion completion;
        volatile String failure;

        @Override
        public void text(List<Completion.TokenRoute> p) {
            p.forEach(t -> streamed.append(t.text()));
            pieces.addAll(p);
        }

        @Override
        public void completed(Completion c) {
            completion = c;
            done.countDown();
        }

        @Override
        public void failed(String message) {
            failure = message;
            done.countDown();
        }

        Completion await() throws InterruptedException {
            assertTrue(done.await(120, TimeUnit.SECONDS), "request ended");
            assertEquals(null, failure);
            return completion;
        }
    }

    /**
     * A request router (one adapter per request from a base pass over its prompt): only the requests that name no
     * adapter get a base pass, and every token of such a request has the one adapter chosen for it.
     */
    @Test
    void onlyRequestsRoutedByARequestRouterGetABasePass() throws IOException {
        Path requestRouter = dir.resolve("request.gguf");
        try (TokenEmbeddings emb = TokenEmbeddings.open(model)) {
            RouterFile.save(requestRouter, Gate.untrained(emb.dim(), 0, 3, 5),
                    RouterFile.identity(adapters, emb, RouterFile.FEATURES_REQUEST));
        }
        try (Engine e = Engine.open(EngineSpec.of(model).withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(1024))
                .withAdapters(adapters, new RouterSpec.Learned(requestRouter)))) {
            List<CompletionRequest> requests = requests();
            long routed = requests.stream().filter(r -> r.adapters().isEmpty()).count();
            assertTrue(routed > 0 && routed < requests.size());
            Map<String, Completion> done = complete(e, requests, 4);
            assertEquals(requests.size(), done.size());
            assertEquals(routed, e.routing().hiddenStates().basePasses(), "base passes");
            for (CompletionRequest r : requests) {
                if (r.adapters().isPresent()) {
                    continue;
                }
                List<Completion.TokenRoute> routes = done.get(r.id()).routes();
                assertFalse(routes.isEmpty(), r.id());
                for (Completion.TokenRoute t : routes) {
                    assertTrue(java.util.Arrays.equals(routes.get(0).route().adapters(), t.route().adapters()),
                            r.id() + ": one adapter for the whole request");
                }
            }
        }
    }

    static void assertSame(Completion want, Completion got) {
        String id = want.request().id();
        assertEquals(want.text(), got.text(), id);
        assertEquals(want.stopReason(), got.stopReason(), id);
        assertEquals(want.completionTokens(), got.completionTokens(), id);
        assertEquals(want.adapterTokens(), got.adapterTokens(), id);
        assertEquals(want.routes().size(), got.routes().size(), id);
        for (int i = 0; i < want.routes().size(); i++) {
            assertEquals(want.routes().get(i).text(), got.routes().get(i).text(), id);
            assertTrue(java.util.Arrays.equals(want.routes().get(i).route().adapters(),
                    got.routes().get(i).route().adapters()), id + " token " + i);
            assertTrue(java.util.Arrays.equals(want.routes().get(i).route().weights(),
                    got.routes().get(i).route().weights()), id + " token " + i);
        }
    }

    @Test
    void requestsPushedFromSeveralThreadsEqualEachRequestAlone() throws Exception {
        List<CompletionRequest> requests = requests();
        try (Engine e = open()) {
            Map<String, Completion> alone = alone(e, requests);
            Map<String, Collector> got = new ConcurrentHashMap<>();
            try (CompletionService service = e.serve(new CompletionSettings(3, Optional.empty(), false), 100)) {
                service.start();
                List<Thread> threads = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int tt = t;
                    threads.add(Thread.ofPlatform().start(() -> {
                        for (int i = tt; i < requests.size(); i += 4) {
                            Collector c = new Collector();
                            got.put(requests.get(i).id(), c);
                            service.submit(requests.get(i), true, c);
                        }
                    }));
                }
                for (Thread t : threads) {
                    t.join();
                }
                for (CompletionRequest r : requests) {
                    Collector c = got.get(r.id());
                    Completion done = c.await();
                    assertSame(alone.get(r.id()), done);
                    // the streamed pieces are the text, with the routes of the trace
                    assertEquals(done.text(), c.streamed.toString());
                    assertEquals(done.routes(), c.pieces);
                }
            }
        }
    }

    @Test
    void aCancelledRequestEndsAtOnceAndTheNextTakesItsSequence() throws Exception {
        try (Engine e = open();
             CompletionService service = e.serve(new CompletionSettings(1, Optional.empty(), false), 10)) {
            service.start();
            CountDownLatch fiveTokens = new CountDownLatch(1);
            CountDownLatch cancelled = new CountDownLatch(1);
            Collector endless = new Collector() {
                int n;

                @Override
                public void text(List<Completion.TokenRoute> p) {
                    super.text(p);
                    n += p.size();
                    if (n == 5) {
                        fiveTokens.countDown();
                        try {
                            cancelled.await();  // hold the loop until the other thread has cancelled
                        } catch (InterruptedException x) {
                            throw new IllegalStateException(x);
                        }
                    }
                }
            };
            CompletionService.Ticket ticket = service.submit(new CompletionRequest("endless",
                    new Prompt.Text("Once upon a time"), Integer.MAX_VALUE, SamplerParams.greedy()), false, endless);
            Collector next = new Collector();
            CompletionRequest nextRequest = new CompletionRequest("next", new Prompt.Text("Hello"), 5,
                    SamplerParams.greedy());
            service.submit(nextRequest, true, next);
            assertTrue(fiveTokens.await(120, TimeUnit.SECONDS));
            assertEquals(1, service.queued());
            assertTrue(ticket.cancel());
            cancelled.countDown();
            Completion c = endless.await();
            assertEquals(StopReason.CANCELLED, c.stopReason());
            assertTrue(c.completionTokens() <= 7, "ended within a step or two: " + c.completionTokens());
            assertFalse(ticket.cancel(), "already ended");
            Completion n = next.await();
            assertEquals(StopReason.MAX_TOKENS, n.stopReason());
            assertSame(alone(e, List.of(nextRequest)).get("next"), n);
        }
    }

    @Test
    void theQueueIsBoundedAndCloseEndsWhatIsLeft() throws Exception {
        try (Engine e = open()) {
            Collector a = new Collector();
            Collector b = new Collector();
            CompletionService service = e.serve(new CompletionSettings(1, Optional.empty(), false), 2);
            // not started: everything waits in the queue
            service.submit(new CompletionRequest("a", new Prompt.Text("x"), 3, SamplerParams.greedy()), false, a);
            service.submit(new CompletionRequest("b", new Prompt.Text("y"), 3, SamplerParams.greedy()), false, b);
            assertThrows(CompletionService.QueueFullException.class, () -> service.submit(
                    new CompletionRequest("c", new Prompt.Text("z"), 3, SamplerParams.greedy()), false, new Collector()));
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> service.submit(
                    new CompletionRequest("d", new Prompt.Text("word ".repeat(2000)), 3, SamplerParams.greedy()),
                    false, new Collector()));
            assertTrue(tooLong.getMessage().contains("does not fit"), tooLong.getMessage());
            assertThrows(IllegalArgumentException.class, () -> service.submit(new CompletionRequest("e",
                    new Prompt.Text("x"), 3, SamplerParams.greedy(), Optional.of(new AdapterMix(Map.of("prose", 1f)))),
                    false, new Collector()));
            service.stopAccepting();
            assertThrows(IllegalStateException.class, () -> service.submit(
                    new CompletionRequest("f", new Prompt.Text("z"), 3, SamplerParams.greedy()), false, new Collector()));
            assertFalse(service.awaitIdle(java.time.Duration.ofMillis(1)));
            service.close();
            assertEquals(StopReason.CANCELLED, a.await().stopReason());
            assertEquals(StopReason.CANCELLED, b.await().stopReason());
            assertTrue(service.awaitIdle(java.time.Duration.ZERO));
        }
    }

    @Test
    void stopStringsCutTheTextAndAreNeverHandedOut() throws Exception {
        try (Engine e = open()) {
            CompletionRequest plain = new CompletionRequest("p", new Prompt.Text("Once upon a time"), 30,
                    SamplerParams.greedy(), Optional.of(AdapterMix.none()));
            String full = alone(e, List.of(plain)).get("p").text();
            assertTrue(full.length() > 12, full);
            String stop = full.substring(8, 12);
            String cut = full.substring(0, full.indexOf(stop));
            CompletionRequest stopped = new CompletionRequest("s", plain.prompt(), 30, SamplerParams.greedy(),
                    plain.adapters(), List.of("\u0000never", stop));
            try (CompletionService service = e.serve(new CompletionSettings(2, Optional.empty(), false), 10)) {
                service.start();
                Collector c = new Collector();
                service.submit(stopped, true, c);
                Completion done = c.await();
                assertEquals(cut, done.text());
                assertEquals(StopReason.STOP_STRING, done.stopReason());
                assertEquals(cut, c.streamed.toString());
                StringBuilder traced = new StringBuilder();
                done.routes().forEach(t -> traced.append(t.text()));
                assertEquals(cut, traced.toString());
            }
        }
    }
}
