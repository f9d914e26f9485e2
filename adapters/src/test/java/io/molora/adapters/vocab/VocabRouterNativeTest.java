package io.molora.adapters.vocab;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.adapters.vocab.VocabRouterTest.ListBatch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Generator;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Sampler;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.Tokenizer;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The vocabulary router on llama.cpp's real llama-spm tokenizer, and end to end through {@link RoutedDecoder}: two
 * token-boost adapters ("code" makes " return" win, "math" makes "7" win) whose effect shows in greedy output.
 */
class VocabRouterNativeTest {
    static final String CONFIG = """
            {
              "default": "none",
              "rules": [
                {"adapter": "code", "span": {"open": "```", "close": "```"}},
                {"adapter": "math", "piece": "^ ?[0-9]+$"}
              ]
            }
            """;

    @TempDir
    static Path dir;
    static Model model;
    static Tokenizer tok;
    static AdapterSet adapters;
    static int codeToken;
    static int mathToken;

    @BeforeAll
    static void load() throws IOException {
        Path modelPath = NativeTestSupport.writeTinyModel(dir, 3);
        model = Model.load(modelPath, NativeTestSupport.modelParams());
        tok = model.tokenizer();
        codeToken = single("▁return");
        mathToken = single("7");
        Path code = NativeTestSupport.writeTokenBoost(dir, "code", codeToken);
        Path math = NativeTestSupport.writeTokenBoost(dir, "math", mathToken);
        adapters = AdapterSet.load(model, List.of(new AdapterSpec("code", code, 1f), new AdapterSpec("math", math, 1f)));
    }

    @AfterAll
    static void close() {
        adapters.close();
        model.close();
    }

    /** The token whose vocabulary entry is exactly {@code text}. */
    static int single(String text) {
        return NativeTestSupport.tokenId(tok, text);
    }

    static VocabRouter router() {
        return VocabRouter.create(VocabConfig.parse(CONFIG, "vocab.json"), Vocabulary.of(tok), adapters.names());
    }

    static int[] routes(VocabRouter r, int[] tokens) {
        try (RouteTable t = new RouteTable(tokens.length, 1)) {
            r.route(ListBatch.of(0, 0, tokens), t);
            int[] out = new int[tokens.length];
            for (int i = 0; i < out.length; i++) {
                out[i] = t.adapter(i, 0);
            }
            return out;
        }
    }

    @Test
    void routesRealTokenizerOutputOfFencedCodeAndNumbers() {
        String text = "Add 12 and 30:\n```\nreturn a+b\n```\nthat is 42";
        int[] tokens = tok.tokenize(text, true, false);
        int[] r = routes(router(), tokens);
        // Reconstruct the expected route of each token from the text the pieces spell (SPM adds a leading space).
        StringBuilder spelled = new StringBuilder();
        for (int t : tokens) {
            spelled.append(new String(tok.pieceBytes(t, false), java.nio.charset.StandardCharsets.UTF_8));
        }
        int open = spelled.indexOf("```");
        int close = spelled.indexOf("```", open + 3) + 3;  // end of the closing fence
        int offset = 0;
        for (int i = 0; i < tokens.length; i++) {
            String piece = new String(tok.pieceBytes(tokens[i], false), java.nio.charset.StandardCharsets.UTF_8);
            int start = offset;
            int end = offset + piece.length();
            offset = end;
            int expected;
            if (end > open && start < close && piece.length() > 0) {
                expected = 0;  // any token overlapping the fenced block, fences included
            } else if (piece.matches("^ ?[0-9]+$")) {
                expected = 1;
            } else {
                expected = RouteTable.NONE;
            }
            assertEquals(expected, r[i], "token " + i + " '" + piece + "' in " + Arrays.toString(r));
        }
        assertTrue(Arrays.stream(r).filter(x -> x == 0).count() >= 5, Arrays.toString(r));
        assertTrue(Arrays.stream(r).filter(x -> x == 1).count() >= 2, Arrays.toString(r));
    }

    @Test
    void routesFollowTheRuleEndToEndInGreedyOutput() {
        // Inside an open fence every token goes to "code", whose adapter makes " return" the greedy choice — and
        // " return" is inside the fence too, so the output is " return" forever.
        assertAllEqual(codeToken, generate("Here:\n```\nx"));
        // After the fence closes, a number routes to "math" ("7" wins), and "7" is a number again.
        assertAllEqual(mathToken, generate("```\nx\n``` then 5"));
        // No rule matches: the base model's own (random-weight) choice, not the boosted tokens.
        int[] base = generate("Hello there");
        assertNotEquals(codeToken, base[0]);
        assertNotEquals(mathToken, base[0]);
    }

    @Test
    void twoSequencesInOneBatchRouteAsIfAlone() {
        int[] a = tok.tokenize("x ``` y 1 ``` 2", true, false);
        int[] b = tok.tokenize("3 z```` 4 `` 5", true, false);
        int[] aloneA = routes(router(), a);
        int[] aloneB = routes(router(), b);
        VocabRouter r = router();
        int n = a.length + b.length;
        int[] tokens = new int[n];
        int[] pos = new int[n];
        int[] seq = new int[n];
        int k = 0;
        for (int i = 0; i < Math.max(a.length, b.length); i++) {
            if (i < a.length) {
                tokens[k] = a[i];
                pos[k] = i;
                seq[k++] = 0;
            }
            if (i < b.length) {
                tokens[k] = b[i];
                pos[k] = i;
                seq[k++] = 1;
            }
        }
        int[] got0 = new int[a.length];
        int[] got1 = new int[b.length];
        try (RouteTable t = new RouteTable(n, 1)) {
            r.route(new ListBatch(tokens, pos, seq, new boolean[n]), t);
            for (int i = 0; i < n; i++) {
                (seq[i] == 0 ? got0 : got1)[pos[i]] = t.adapter(i, 0);
            }
        }
        assertArrayEquals(aloneA, got0);
        assertArrayEquals(aloneB, got1);
        assertTrue(Arrays.stream(aloneB).anyMatch(x -> x == 0), "a fence opens: " + Arrays.toString(aloneB));
    }

    @Test
    void loadsFromAFileAndBuildsQuickly() throws IOException {
        Path file = dir.resolve("vocab.json");
        Files.writeString(file, CONFIG);
        long t0 = System.nanoTime();
        VocabRouter r = VocabRouter.load(file, tok, adapters.names());
        long ms = (System.nanoTime() - t0) / 1_000_000;
        assertEquals(2, r.ruleCount());
        assertTrue(ms < 5000, "building the tables for 32000 tokens took " + ms + " ms");
    }

    static int[] generate(String prompt) {
        int[] tokens = tok.tokenize(prompt, true, false);
        try (Context ctx = Context.create(model, ContextParams.defaults().withContextSize(128));
             Sampler s = new Sampler(SamplerParams.greedy());
             RoutedDecoder d = adapters.decoder(ctx, router());
             Generator g = new Generator(ctx, s, 0, d)) {
            return g.generate(tokens, 6, t -> { }).tokens();
        }
    }

    static void assertAllEqual(int expected, int[] tokens) {
        for (int t : tokens) {
            assertEquals(expected, t, "generated " + Arrays.toString(tokens) + " (pieces: " + tok.detokenize(tokens) + ")");
        }
    }
}
