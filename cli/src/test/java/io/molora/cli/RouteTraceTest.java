package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.engine.Route;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Rendering of routing traces: plain markers, ANSI colours, legend, counts. */
class RouteTraceTest {
    static Route one(int a) {
        return new Route(new int[] {a}, new float[] {1f});
    }

    @Test
    void plainMarkersAtEachChangeOfRoute() {
        RouteTrace t = new RouteTrace(List.of("code", "math"), false);
        t.append("see ", Route.BASE);
        t.append("```", one(0));
        t.append("x", one(0));
        t.append("", one(1));  // e.g. half a character: counted, not shown
        t.append("1", new Route(new int[] {1, 0}, new float[] {0.7f, 0.3f}));
        t.append(" end", Route.BASE);
        t.append("?", Route.UNKNOWN);
        t.end();
        assertEquals("see [code]```x[math+code]1[base] end[?]?", t.take());
        assertEquals("", t.take(), "take() empties");
        assertEquals(Map.of("code", 3L, "math", 2L, "base", 2L, "unknown", 1L), t.counts());
        assertEquals("code 3, math 2, base 2, unknown 1", t.countsLine());
        assertEquals("routes: [code] [math] [base]; mixes as [a+b]; [?] route unknown", t.legend());
    }

    @Test
    void ansiColoursByHeaviestAdapterAndResets() {
        RouteTrace t = new RouteTrace(List.of("code", "math"), true);
        t.append("a", Route.BASE);
        t.append("b", one(0));
        t.append("c", one(0));
        t.append("d", new Route(new int[] {1, 0}, new float[] {0.6f, 0.4f}));
        t.append("e", Route.BASE);
        t.append("f", one(1));
        t.end();
        String g = "\u001b[32m";
        String b = "\u001b[34m";
        String r = "\u001b[0m";
        assertEquals("a" + g + "bc" + r + b + "d" + r + "e" + b + "f" + r, t.take());
        assertEquals("routes: " + g + "code" + r + " " + b + "math" + r
                + "  base: uncoloured, mixes: colour of the heaviest adapter", t.legend());
    }
}
