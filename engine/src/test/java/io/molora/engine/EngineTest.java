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
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.StopReason;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Engine#open} as every command uses it: what the router needs decides the contexts (embeddings for a
 * hidden-state gate), router specs are checked against the adapters, and the sessions run with each kind of router.
 */
class EngineTest {
    @TempDir
    static Path dir;
    static Path model;
    static List<AdapterSpec> adapters;
    static Path tokenRouter;
    static Path hiddenRouter;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        adapters = List.of(
                new AdapterSpec("code", NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1)), 1f),
                new AdapterSpec("math", NativeTestSupport.writeLora(dir, LoraSpec.attention("math", 4, 2)), 1f));
        try (TokenEmbeddings emb = TokenEmbeddings.open(model)) {
            int d = emb.dim();
            tokenRouter = dir.resolve("token.gguf");
            RouterFile.save(tokenRouter, Gate.untrained(d, 8, 3, 1),
                    RouterFile.identity(adapters, emb, RouterFile.FEATURES_TOKEN));
            hiddenRouter = dir.resolve("hidden.gguf");
            RouterFile.save(hiddenRouter, Gate.untrained(2 * d, 8, 3, 1),
                    RouterFile.identity(adapters, emb, RouterFile.FEATURES_TOKEN_HIDDEN));
        }
    }

    static Engine open(RouterSpec router) {
        return Engine.open(EngineSpec.of(model).withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(256)).withAdapters(adapters, router));
    }

    @Test
    void contextsHaveEmbeddingsExactlyWhenTheRouterReadsHiddenStates() {
        try (Engine e = open(new RouterSpec.Learned(hiddenRouter))) {
            assertTrue(e.routing().needsHiddenStates());
            assertTrue(e.contextParams().embeddings());
        }
        for (RouterSpec spec : List.of(new RouterSpec.Learned(tokenRouter), new RouterSpec.AllAdapters(),
                new RouterSpec.Fixed("math"), new RouterSpec.Base())) {
            try (Engine e = open(spec)) {
                assertFalse(e.contextParams().embeddings(), spec.toString());
            }
        }
    }

    @Test
    void routerSpecsAreCheckedAgainstTheAdapters() {
        assertThrows(IllegalArgumentException.class, () -> EngineSpec.of(model).withAdapters(List.of(),
                new RouterSpec.AllAdapters()), "a router needs adapters");
        IllegalArgumentException unknown = assertThrows(IllegalArgumentException.class,
                () -> open(new RouterSpec.Fixed("prose")).close());
        assertTrue(unknown.getMessage().contains("no adapter named 'prose'"), unknown.getMessage());
        try (Engine e = open(new RouterSpec.PerSequence(Map.of(0, "code")))) {
            assertEquals("an adapter per sequence", e.routing().describe());
        }
        try (Engine e = open(new RouterSpec.AllAdapters())) {
            assertEquals("all adapters at once [code, math]", e.routing().describe());
        }
    }

    @Test
    void aGenerationRefusesAPromptThatDoesNotFitBeforeReportingAnythingAndStopsWhenAsked() {
        // a hidden-state router: the base pass over the prompt must not run either
        try (Engine e = open(new RouterSpec.Learned(hiddenRouter))) {
            List<String> events = new ArrayList<>();
            GenerationListener listener = new GenerationListener() {
                @Override
                public void prefilled(List<Piece> prompt) {
                    events.add("prefilled");
                }

                @Override
                public void token(GeneratedToken t, Route route) {
                    events.add(t.text());
                }

                @Override
                public boolean stop() {
                    return events.size() > 3;  // the prompt and three tokens
                }
            };
            IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> e.generate(
                    new GenerationRequest("word ".repeat(300), 4, SamplerParams.greedy(), false), listener));
            assertEquals("prompt of 302 tokens does not fit in the context (256 tokens); use a larger -c or a shorter "
                    + "prompt", tooLong.getMessage());
            assertEquals(List.of(), events, "nothing reported");

            var r = e.generate(new GenerationRequest("Once upon a time", 100, SamplerParams.greedy(), false), listener);
            assertEquals(StopReason.CANCELLED, r.stopReason());
            assertEquals(3, r.tokens().length);
            assertEquals(4, events.size());
        }
    }

    @Test
    void aHiddenStateRouterRunsInEverySession() throws IOException {
        try (Engine e = open(new RouterSpec.Learned(hiddenRouter))) {
            List<Route> routes = new ArrayList<>();
            var r = e.generate(new GenerationRequest("Once upon a time", 6, SamplerParams.greedy(), true),
                    (GeneratedToken t, Route route) -> routes.add(route));
            assertEquals(6, r.tokens().length);
            assertTrue(routes.stream().allMatch(Route::known), routes.toString());

            // the same prompt as a batch request: the same text
            List<Completion> done = new ArrayList<>();
            e.complete(List.of(new CompletionRequest("a", new Prompt.Text("Once upon a time"), 6,
                    SamplerParams.greedy())), new CompletionSettings(2, Optional.empty(), true),
                    new CompletionSink() {
                        @Override
                        public void completed(Completion c) {
                            done.add(c);
                        }

                        @Override
                        public void failed(CompletionRequest request, String message) {
                            throw new AssertionError(message);
                        }
                    });
            assertEquals(r.text(), done.get(0).text());
            assertEquals(6, done.get(0).routes().size());

            // a chat: two turns, the second on the first's cache
            try (ChatSession chat = e.chat(ChatSettings.defaults().withSampling(SamplerParams.greedy())
                    .withMaxTokens(4))) {
                assertTrue(chat.routedPerToken());
                ChatTurn.Reply first = (ChatTurn.Reply) chat.send("Hello", t -> { }, () -> false);
                ChatTurn.Reply second = (ChatTurn.Reply) chat.send("More", t -> { }, () -> false);
                assertEquals(0, first.reused());
                // all but the last token, which a reply stopped at its limit never decodes
                assertEquals(StopReason.MAX_TOKENS, first.stopReason());
                assertEquals(first.prefilled() + first.tokens() - 1, second.reused());
                chat.useAdapters(AdapterMix.parse("code", chat.adapterNames()));
                assertFalse(chat.routedPerToken());
                assertEquals(Map.of("code", 3), ((ChatTurn.Reply) chat.send("Again", t -> { }, () -> false)).routes());
            }

            // perplexity of eval records, states from a base pass over each
            Path text = Files.writeString(dir.resolve("t.txt"), "x");
            List<SetScore> scores = e.perplexity(text.toString(), List.of(new EvalRecord("s", "Once upon a time there")),
                    ScoringOptions.defaults(), ProgressReporter.none());
            assertTrue(Double.isFinite(scores.get(0).score().perplexity()));
        }
    }
}
