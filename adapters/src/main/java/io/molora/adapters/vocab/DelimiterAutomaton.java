package io.molora.adapters.vocab;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Aho–Corasick over bytes for a handful of delimiter strings, as a full DFA ({@code next[state * 256 + byte]}), so
 * delimiters are found across token boundaries by carrying one int of state from token to token.
 */
final class DelimiterAutomaton {
    private final int[] next;
    private final int[][] matches;  // per state: patterns that end here (longer first)
    private final int states;

    DelimiterAutomaton(List<byte[]> patterns) {
        List<int[]> gotoRows = new ArrayList<>();
        List<List<Integer>> out = new ArrayList<>();
        gotoRows.add(newRow());
        out.add(new ArrayList<>());
        for (int p = 0; p < patterns.size(); p++) {
            int s = 0;
            for (byte b : patterns.get(p)) {
                int c = b & 0xFF;
                if (gotoRows.get(s)[c] < 0) {
                    gotoRows.get(s)[c] = gotoRows.size();
                    gotoRows.add(newRow());
                    out.add(new ArrayList<>());
                }
                s = gotoRows.get(s)[c];
            }
            out.get(s).add(p);
        }
        states = gotoRows.size();
        next = new int[states * 256];
        int[] fail = new int[states];
        ArrayDeque<Integer> queue = new ArrayDeque<>();
        for (int c = 0; c < 256; c++) {
            int t = gotoRows.get(0)[c];
            next[c] = t < 0 ? 0 : t;
            if (t > 0) {
                fail[t] = 0;
                queue.add(t);
            }
        }
        while (!queue.isEmpty()) {
            int s = queue.poll();
            out.get(s).addAll(out.get(fail[s]));
            for (int c = 0; c < 256; c++) {
                int t = gotoRows.get(s)[c];
                if (t < 0) {
                    next[s * 256 + c] = next[fail[s] * 256 + c];
                } else {
                    next[s * 256 + c] = t;
                    fail[t] = next[fail[s] * 256 + c];
                    queue.add(t);
                }
            }
        }
        matches = new int[states][];
        for (int s = 0; s < states; s++) {
            matches[s] = out.get(s).stream().mapToInt(Integer::intValue).toArray();
        }
    }

    private static int[] newRow() {
        int[] r = new int[256];
        Arrays.fill(r, -1);
        return r;
    }

    int states() {
        return states;
    }

    int step(int state, int b) {
        return next[state * 256 + (b & 0xFF)];
    }

    /** Patterns that end when the automaton enters {@code state}. */
    int[] matchesAt(int state) {
        return matches[state];
    }
}
