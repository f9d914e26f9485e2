package io.molora.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.runtime.RouteTable;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Routes read from a route table. */
class RouteTest {
    @Test
    void routeFromATableSkipsEmptySlotsHeaviestFirst() {
        try (RouteTable table = new RouteTable(2, 3)) {
            table.set(0, 0, 2, 0.2f);
            table.set(0, 1, RouteTable.NONE, 0f);
            table.set(0, 2, 0, 0.8f);
            table.set(1, RouteTable.NONE, 0f);
            Route r = Route.of(table, 0);
            assertEquals(List.of(0, 2), java.util.Arrays.stream(r.adapters()).boxed().toList());
            assertEquals(0.8f, r.weights()[0]);
            assertEquals(0, Route.of(table, 1).adapters().length);
        }
    }

    @Test
    void usedRouteKeepsSlotOrderAndDropsZeroWeights() {
        try (RouteTable table = new RouteTable(1, 3)) {
            table.set(0, 0, 2, 0.2f);
            table.set(0, 1, 1, 0f);
            table.set(0, 2, 0, 0.8f);
            Route r = Route.used(table, 0);
            assertEquals(List.of(2, 0), java.util.Arrays.stream(r.adapters()).boxed().toList());
            assertEquals(0.2f, r.weights()[0]);
        }
    }
}
