package io.molora.adapters.gate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.RouteTable;
import io.molora.runtime.TokenBatch;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The switch bonus of a learned router (issue 22: routes a person reads as right): the previous position's winner gets
 * b added to its score, so a token switches only where the gate prefers another choice by more than b. Checked
 * against the same gate's scores computed here, token by token.
 */
class SwitchBonusTest {
    @TempDir
    static Path dir;
    static Path model;
    static TokenEmbeddings emb;
    static Gate gate;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 3);
        emb = TokenEmbeddings.open(model);
        gate = Gate.untrained(emb.dim(), 8, 4, 21);  // none + 3 adapters, random: its argmax flips often
    }

    @AfterAll
    static void close() {
        emb.close();
    }

    /** Two sequences of 200 random tokens each, interleaved in one batch as the scheduler lays out prompts. */
    static TokenBatch batch(int[][] tokens) {
        return new TokenBatch() {
            @Override
            public int size() {
                return tokens.length * tokens[0].length;
            }

            @Override
            public int token(int i) {
                return tokens[i % tokens.length][i / tokens.length];
            }

            @Override
            public int position(int i) {
                return i / tokens.length;
            }

            @Override
            public int sequence(int i) {
                return i % tokens.length;
            }
        };
    }

    static int[][] tokens() {
        Random r = new Random(4);
        int[][] t = new int[2][200];
        for (int[] s : t) {
            for (int p = 0; p < s.length; p++) {
                s[p] = 100 + r.nextInt(emb.vocabSize() - 100);
            }
        }
        return t;
    }

    /** The choice (score index) the rule gives each token: argmax of its scores, the previous winner plus b. */
    static int[][] expected(int[][] tokens, float b) {
        int[][] out = new int[tokens.length][tokens[0].length];
        float[] x = new float[emb.dim()];
        float[] s = new float[gate.outputs()];
        for (int q = 0; q < tokens.length; q++) {
            for (int p = 0; p < tokens[q].length; p++) {
                emb.row(tokens[q][p], x, 0);
                gate.scores(x, 0, s);
                if (p > 0) {
                    s[out[q][p - 1]] += b;
                }
                int best = 0;
                for (int c = 1; c < s.length; c++) {
                    best = s[c] > s[best] ? c : best;
                }
                out[q][p] = best;
            }
        }
        return out;
    }

    static int switches(int[][] choices) {
        int n = 0;
        for (int[] s : choices) {
            for (int p = 1; p < s.length; p++) {
                n += s[p] != s[p - 1] ? 1 : 0;
            }
        }
        return n;
    }

    @Test
    void routesFollowTheRuleAndSwitchLessAsTheBonusGrows() {
        int[][] tokens = tokens();
        TokenBatch batch = batch(tokens);
        int last = Integer.MAX_VALUE;
        for (float b : new float[] {0f, 0.5f, 2f, 1e3f}) {
            LearnedRouter router = new LearnedRouter(gate, emb, null, new SoftTopK(1, 1f, 0f), 1f, b);
            int[][] want = expected(tokens, b);
            try (RouteTable routes = new RouteTable(batch.size(), 1)) {
                routes.clear(batch.size());
                router.route(batch, routes);
                for (int i = 0; i < batch.size(); i++) {
                    int choice = want[batch.sequence(i)][batch.position(i)];
                    assertEquals(choice == 0 ? RouteTable.NONE : choice - 1, routes.adapter(i, 0),
                            "bonus " + b + ", token " + i);
                }
            }
            int n = switches(want);
            assertTrue(n <= last, "bonus " + b + ": " + n + " switches, more than " + last + " with a smaller bonus");
            last = n;
            if (b == 0f) {
                assertTrue(n > 20, "the random gate switches often alone: " + n);
            }
            if (b == 1e3f) {
                assertEquals(0, n, "a bonus beyond any score gap: every token keeps its sequence's first choice");
            }
        }
    }

    @Test
    void aSequenceThatStartsAgainForgetsItsLastChoice() {
        LearnedRouter router = new LearnedRouter(gate, emb, null, new SoftTopK(1, 1f, 0f), 1f, 1e3f);
        int[][] tokens = tokens();
        int[][] want = expected(tokens, 0f);  // position 0 of each sequence: its own argmax
        try (RouteTable routes = new RouteTable(1, 1)) {
            for (int q = 0; q < 2; q++) {
                for (int p = 0; p < 5; p++) {  // a few tokens of sequence 0, then sequence 0 again from position 0
                    routes.clear(1);
                    router.route(TokenBatch.single(tokens[q][p], p, 0), routes);
                    int choice = want[q][0];
                    assertEquals(choice == 0 ? RouteTable.NONE : choice - 1, routes.adapter(0, 0), q + ":" + p);
                }
            }
        }
    }

    @Test
    void theBonusTravelsWithTheRouterFile() throws IOException {
        Path file = dir.resolve("sticky.gguf");
        List<AdapterSpec> adapters = List.of(new AdapterSpec("a", model, 1f), new AdapterSpec("b", model, 1f),
                new AdapterSpec("c", model, 1f));
        RouterFile.save(file, gate, RouterFile.identity(adapters, emb), 1.5f);
        assertEquals(1.5f, RouterFile.read(file).switchBonus());
        Path plain = dir.resolve("plain.gguf");
        RouterFile.save(plain, gate, RouterFile.identity(adapters, emb));
        assertEquals(0f, RouterFile.read(plain).switchBonus(), "a file without it reads as before");
        assertThrows(IllegalArgumentException.class, () -> new LearnedRouter(gate, emb, null,
                new SoftTopK(1, 1f, 0f), 1f, Float.NaN));
    }
}
