package io.molora.cli;

import io.molora.runtime.Batch;
import io.molora.runtime.Decoder;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.TokenBatch;
import java.util.ArrayList;
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
 * (for streaming), {@link #counts()} how many tokens each adapter served. {@link Recorder} captures the routes of a
 * {@link RoutedDecoder}'s decodes by (sequence, position). Reusable by any command that shows routes.
 */
public final class RouteTrace {
    private static final String RESET = "\u001b[0m";
    private static final String[] COLOURS = {
        "\u001b[32m", "\u001b[34m", "\u001b[35m", "\u001b[36m", "\u001b[33m", "\u001b[31m",
        "\u001b[92m", "\u001b[94m", "\u001b[95m", "\u001b[96m", "\u001b[93m", "\u001b[91m",
    };
    /** The route of a token the router never saw. */
    public static final Route UNKNOWN = new Route(null, null);
    /** The base model alone. */
    public static final Route BASE = new Route(new int[0], new float[0]);

    private final List<String> names;
    private final boolean ansi;
    private final StringBuilder pending = new StringBuilder();
    private final long[] counts;
    private long baseCount;
    private long unknownCount;
    private String currentKey;  // the route of the text rendered last (null: nothing yet)

    /** Adapter ids and weights of one token; empty = base; {@code adapters == null}: unknown. */
    public record Route(int[] adapters, float[] weights) {
        /** The route of token i of a route table (slots with an adapter, heaviest first). */
        public static Route of(RouteTable table, int i) {
            int k = table.k();
            int n = 0;
            for (int j = 0; j < k; j++) {
                n += table.adapter(i, j) != RouteTable.NONE ? 1 : 0;
            }
            int[] a = new int[n];
            float[] w = new float[n];
            int s = 0;
            for (int j = 0; j < k; j++) {
                if (table.adapter(i, j) != RouteTable.NONE) {
                    a[s] = table.adapter(i, j);
                    w[s++] = table.weight(i, j);
                }
            }
            // heaviest first (stable for equal weights)
            for (int x = 1; x < n; x++) {
                for (int y = x; y > 0 && w[y] > w[y - 1]; y--) {
                    float tw = w[y];
                    w[y] = w[y - 1];
                    w[y - 1] = tw;
                    int ta = a[y];
                    a[y] = a[y - 1];
                    a[y - 1] = ta;
                }
            }
            return new Route(a, w);
        }

        public boolean known() {
            return adapters != null;
        }
    }

    public RouteTrace(List<String> adapterNames, boolean ansi) {
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

    /**
     * A decoder that records, for each decoded token, the route its {@link RoutedDecoder} gave it, by sequence and
     * position; {@link #route} looks them up (the last generated token is never decoded: {@link #routeUndecoded}
     * asks the router what it would give it).
     */
    public static final class Recorder implements Decoder {
        private final RoutedDecoder decoder;
        private final Map<Integer, List<Route>> bySequence = new LinkedHashMap<>();

        public Recorder(RoutedDecoder decoder) {
            this.decoder = decoder;
        }

        @Override
        public void decode(Batch batch) {
            decoder.decode(batch);
            RouteTable routes = decoder.lastRoutes();
            for (int i = 0, n = batch.size(); i < n; i++) {
                List<Route> seq = bySequence.computeIfAbsent(batch.sequence(i), s -> new ArrayList<>());
                int pos = batch.position(i);
                while (seq.size() <= pos) {
                    seq.add(UNKNOWN);
                }
                seq.set(pos, Route.of(routes, i));
            }
        }

        /** The route the token at {@code position} of {@code sequence} was decoded with, or {@link #UNKNOWN}. */
        public Route route(int sequence, int position) {
            List<Route> seq = bySequence.get(sequence);
            return seq == null || position < 0 || position >= seq.size() ? UNKNOWN : seq.get(position);
        }

        /** What the router gives a token that was not decoded (e.g. the last one generated), without decoding it. */
        public Route routeUndecoded(int token, int position, int sequence) {
            Router router = decoder.router();
            TokenBatch one = TokenBatch.single(token, position, sequence);
            try (RouteTable t = new RouteTable(1, router.maxAdaptersPerToken())) {
                router.route(one, t);
                return Route.of(t, 0);
            }
        }
    }
}
