package io.molora.engine;

import io.molora.runtime.Batch;
import io.molora.runtime.Decoder;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A decoder that records, for each decoded token, the route its {@link RoutedDecoder} gave it, by sequence and
 * position (for traces of a prompt decoded over several batches).
 */
final class RouteRecorder implements Decoder {
    private final RoutedDecoder decoder;
    private final Map<Integer, List<Route>> bySequence = new LinkedHashMap<>();

    RouteRecorder(RoutedDecoder decoder) {
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
                seq.add(Route.UNKNOWN);
            }
            seq.set(pos, Route.of(routes, i));
        }
    }

    /** The route the token at {@code position} of {@code sequence} was decoded with, or {@link Route#UNKNOWN}. */
    Route route(int sequence, int position) {
        List<Route> seq = bySequence.get(sequence);
        return seq == null || position < 0 || position >= seq.size() ? Route.UNKNOWN : seq.get(position);
    }
}
