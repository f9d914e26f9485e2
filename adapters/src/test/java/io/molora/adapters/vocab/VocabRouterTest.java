package io.molora.adapters.vocab;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.runtime.RouteTable;
import io.molora.runtime.TokenBatch;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Routing decisions of the vocabulary router on a small hand-made vocabulary. */
class VocabRouterTest {
    static final int N = RouteTable.NONE;
    // 0 <s> (no text), 1 a, 2 `, 3 ``, 4 ```, 5 x```y, 6 1, 7 " 22", 8 \n, 9 $$, 10 b
    static final FakeVocab VOCAB = FakeVocab.of("", "a", "`", "``", "```", "x```y", "1", " 22", "\n", "$$", "b");
    static final List<String> NAMES = List.of("code", "math", "names");

    /** A batch as a router sees it; {@code embedding[i]} marks embedding inputs. */
    record ListBatch(int[] tokens, int[] positions, int[] sequences, boolean[] embedding) implements TokenBatch {
        static ListBatch of(int seq, int start, int... tokens) {
            int[] pos = new int[tokens.length];
            int[] seqs = new int[tokens.length];
            for (int i = 0; i < tokens.length; i++) {
                pos[i] = start + i;
                seqs[i] = seq;
            }
            return new ListBatch(tokens, pos, seqs, new boolean[tokens.length]);
        }

        @Override
        public int size() {
            return tokens.length;
        }

        @Override
        public int token(int i) {
            return tokens[i];
        }

        @Override
        public int position(int i) {
            return positions[i];
        }

        @Override
        public int sequence(int i) {
            return sequences[i];
        }

        @Override
        public boolean isEmbedding(int i) {
            return embedding[i];
        }
    }

    static VocabRouter router(String rules) {
        return VocabRouter.create(VocabConfig.parse("{\"rules\": [" + rules + "]}", "test.json"), VOCAB, NAMES);
    }

    static int[] route(VocabRouter r, TokenBatch b) {
        try (RouteTable t = new RouteTable(Math.max(1, b.size()), 1)) {
            r.route(b, t);
            int[] out = new int[b.size()];
            for (int i = 0; i < out.length; i++) {
                out[i] = t.adapter(i, 0);
            }
            return out;
        }
    }

    static final String CODE_MATH_NAMES = """
            {"adapter": "code", "span": {"open": "```"}},
            {"adapter": "math", "piece": "^ ?[0-9]+$"},
            {"adapter": "names", "ids": [10]}
            """;

    @Test
    void firstMatchingRuleWinsAndSpansCrossTokenBoundaries() {
        VocabRouter r = router(CODE_MATH_NAMES);
        //        a  `  `` a  1  ``` b  1  " 22"
        int[] t = {1, 2, 3, 1, 6, 4, 10, 6, 7};
        // "`" + "``" completes the opening fence: that token and all up to the closing fence are code.
        assertArrayEquals(new int[] {N, N, 0, 0, 0, 0, 2, 1, 1}, route(r, ListBatch.of(0, 0, t)));
    }

    @Test
    void excludedDelimitersAndOneTokenHoldingAWholeSpanEdge() {
        VocabRouter r = router("{\"adapter\": \"code\", \"span\": {\"open\": \"```\", \"delimiters\": \"exclude\"}}");
        //        a  ``` a  1  x```y a
        int[] t = {1, 4, 1, 6, 5, 1};
        assertArrayEquals(new int[] {N, N, 0, 0, N, N}, route(r, ListBatch.of(0, 0, t)));
    }

    @Test
    void differentOpenAndCloseAndSpecialTokensKeepTheMatchState() {
        VocabRouter r = router("{\"adapter\": \"math\", \"span\": {\"open\": \"$$\", \"close\": \"\\n\"}}");
        //        a  $$ 1  $$ <s> \n a
        int[] t = {1, 9, 6, 9, 0, 8, 1};
        assertArrayEquals(new int[] {N, 1, 1, 1, 1, 1, N}, route(r, ListBatch.of(0, 0, t)));
        // "`" then <s> (no text) then "``": the fence still completes across the special token.
        VocabRouter fence = router("{\"adapter\": \"code\", \"span\": {\"open\": \"```\"}}");
        assertArrayEquals(new int[] {N, N, 0, 0}, route(fence, ListBatch.of(0, 0, 2, 0, 3, 1)));
    }

    @Test
    void tokenIdDelimiters() {
        VocabRouter r = router("{\"adapter\": \"names\", \"span\": {\"open\": 0, \"close\": 8}}");
        //        a  <s> a  1  \n a
        int[] t = {1, 0, 1, 6, 8, 1};
        assertArrayEquals(new int[] {N, 2, 2, 2, 2, N}, route(r, ListBatch.of(0, 0, t)));
    }

    @Test
    void stateFollowsPositionsAcrossBatchesSequencesAndRewinds() {
        int[] s0 = {1, 4, 1, 6, 4, 1, 6};
        int[] s1 = {1, 1, 6, 2, 3, 1, 1, 4};
        int[] alone0 = route(router(CODE_MATH_NAMES), ListBatch.of(0, 0, s0));
        int[] alone1 = route(router(CODE_MATH_NAMES), ListBatch.of(1, 0, s1));

        // interleaved in one batch, then the rest in a second batch
        VocabRouter r = router(CODE_MATH_NAMES);
        List<int[]> items = new ArrayList<>();  // {token, pos, seq}
        for (int i = 0; i < 8; i++) {
            if (i < s0.length) {
                items.add(new int[] {s0[i], i, 0});
            }
            items.add(new int[] {s1[i], i, 1});
        }
        int[] got0 = new int[s0.length];
        int[] got1 = new int[s1.length];
        for (List<int[]> part : List.of(items.subList(0, 6), items.subList(6, items.size()))) {
            int[] tokens = part.stream().mapToInt(x -> x[0]).toArray();
            int[] pos = part.stream().mapToInt(x -> x[1]).toArray();
            int[] seq = part.stream().mapToInt(x -> x[2]).toArray();
            int[] routes = route(r, new ListBatch(tokens, pos, seq, new boolean[tokens.length]));
            for (int i = 0; i < routes.length; i++) {
                (seq[i] == 0 ? got0 : got1)[pos[i]] = routes[i];
            }
        }
        assertArrayEquals(alone0, got0, "sequence 0");
        assertArrayEquals(alone1, got1, "sequence 1");

        // Rewind sequence 0 to position 2 (inside the fence) and continue differently: the state comes from position 1.
        assertArrayEquals(new int[] {0, 0, 0, N}, route(r, ListBatch.of(0, 2, 6, 6, 4, 1)));
        // Rewind to position 1 (before the fence): outside again.
        assertArrayEquals(new int[] {N, 1}, route(r, ListBatch.of(0, 1, 1, 6)));
        // A position whose predecessor was never routed starts outside every span.
        assertArrayEquals(new int[] {N}, route(r, ListBatch.of(5, 10, 1)));
    }

    @Test
    void defaultWeightsAndInputKind() {
        VocabConfig c = VocabConfig.parse("""
                {"default": "names", "rules": [
                  {"adapter": "math", "piece": "[0-9]", "weight": 0.25},
                  {"adapter": "code", "input": "embedding"},
                  {"adapter": "none", "ids": [[0, 1]]}
                ]}""", "t.json");
        VocabRouter r = VocabRouter.create(c, VOCAB, NAMES);
        ListBatch b = new ListBatch(new int[] {1, 7, 0, 10}, new int[] {0, 1, 2, 3}, new int[4],
                new boolean[] {false, false, true, false});
        try (RouteTable t = new RouteTable(4, 1)) {
            r.route(b, t);
            assertEquals(N, t.adapter(0, 0));
            assertEquals(1, t.adapter(1, 0));
            assertEquals(0.25f, t.weight(1, 0));
            assertEquals(0, t.adapter(2, 0), "embedding input");
            assertEquals(2, t.adapter(3, 0), "default");
            assertEquals(1f, t.weight(3, 0));
        }
    }
}
