package io.molora.cli;

import io.molora.engine.Route;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A routing trace: text coloured by the adapter(s) each token was routed to, with a legend. On a terminal, ANSI
 * colours (one per adapter; tokens mixing several adapters take the colour of the heaviest; base is uncoloured);
 * otherwise plain markers: {@code [code]} before each run of tokens with one route, {@code [base]} where the base
 * model takes over, {@code [code+math]} for mixes, {@code [?]} for a token whose route is not known.
 *
 * <p>Feed it pieces with their routes ({@link #append}); {@link #take()} returns the text rendered since the last call
 * (for streaming), {@link #counts()} how many tokens each adapter served. Reusable by any command that shows routes.
 */
final class RouteTrace {
    private static final String RESET = "\u001b[0m";
    private static final String[] COLOURS = {
        "\u001b[32m", "\u001b[34m", "\u001b[35m", "\u001b[36m", "\u001b[33m", "\u001b[31m",
        "\u001b[92m", "\u001b[94m", "\u001b[95m", "\u001b[96m", "\u001b[93m", "\u001b[91m",
    };
    private final List<String> names;
    private final boolean ansi;
    private final StringBuilder pending = new StringBuilder();
    private final long[] counts;
    private long baseCount;
    private long unknownCount;
    private String currentKey;  // the route of the text rendered last (null: nothing yet)

    RouteTrace(List<String> adapterNames, boolean ansi) {
        this.names = List.copyOf(adapterNames);
        this.ansi = ansi;
        this.counts = new long[names.size()];
    }

    /** Whether to colour: a terminal on stdout, and no {@code NO_COLOR} in the environment. */
    public static boolean terminal() {
        java.io.Console c = System.console();
        return c != null && c.isTerminal() && System.getenv("NO_COLOR") == null;
    }

    /** The legend: each adapter in its colour (or marker), and how base and unknown routes look. */
    public String legend() {
        StringBuilder b = new StringBuilder("routes:");
        for (int a = 0; a < names.size(); a++) {
            b.append(' ');
            if (ansi) {
                b.append(COLOURS[a % COLOURS.length]).append(names.get(a)).append(RESET);
            } else {
                b.append('[').append(names.get(a)).append(']');
            }
        }
        b.append(ansi ? "  base: uncoloured" : " [base]");
        b.append(ansi ? ", mixes: colour of the heaviest adapter" : "; mixes as [a+b]; [?] route unknown");
        return b.toString();
    }

    /** Adds one token's text (possibly empty, e.g. part of a multi-byte character) served by {@code route}. */
    public void append(String text, Route route) {
        if (!route.known()) {
            unknownCount++;
        } else if (route.adapters().length == 0) {
            baseCount++;
        } else {
            for (int a : route.adapters()) {
                counts[a]++;
            }
        }
        if (text.isEmpty()) {
            return;
        }
        String key = key(route);
        if (!key.equals(currentKey)) {
            if (ansi) {
                if (currentKey != null && !currentKey.isEmpty()) {
                    pending.append(RESET);
                }
                if (route.known() && route.adapters().length > 0) {
                    pending.append(COLOURS[route.adapters()[0] % COLOURS.length]);
                }
            } else if (currentKey != null || !key.equals("base")) {
                pending.append('[').append(key).append(']');
            }
            currentKey = key;
        }
        pending.append(text);
    }

    /** Ends the coloured run (call before printing anything else). */
    public void end() {
        if (ansi && currentKey != null && !currentKey.isEmpty()) {
            pending.append(RESET);
        }
        currentKey = null;
    }

    /** The text rendered since the last call. */
    public String take() {
        String s = pending.toString();
        pending.setLength(0);
        return s;
    }

    /** Tokens per adapter name, then "base" and (if any) "unknown"; a mixed token counts for each of its adapters. */
    public Map<String, Long> counts() {
        Map<String, Long> m = new LinkedHashMap<>();
        for (int a = 0; a < names.size(); a++) {
            m.put(names.get(a), counts[a]);
        }
        m.put("base", baseCount);
        if (unknownCount > 0) {
            m.put("unknown", unknownCount);
        }
        return m;
    }

    /** One line: "code 12, math 3, base 20". */
    public String countsLine() {
        StringBuilder b = new StringBuilder();
        counts().forEach((k, v) -> b.append(b.isEmpty() ? "" : ", ").append(k).append(' ').append(v));
        return b.toString();
    }

    /** Marker text of a route (ANSI mode: "" for base and unknown, which are uncoloured). */
    private String key(Route r) {
        if (!r.known()) {
            return ansi ? "" : "?";
        }
        if (r.adapters().length == 0) {
            return ansi ? "" : "base";
        }
        if (ansi) {
            return names.get(r.adapters()[0]);
        }
        StringBuilder b = new StringBuilder();
        for (int a : r.adapters()) {
            b.append(b.isEmpty() ? "" : "+").append(names.get(a));
        }
        return b.toString();
    }
}
