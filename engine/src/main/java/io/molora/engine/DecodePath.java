package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.HiddenStates;
import io.molora.runtime.Context;
import io.molora.runtime.Decoder;
import io.molora.runtime.RouteTable;
import io.molora.runtime.RoutedDecoder;
import io.molora.runtime.Router;
import io.molora.runtime.RoutingForm;
import io.molora.runtime.TokenBatch;
import java.util.function.BiFunction;

/**
 * How one context decodes: plainly, or through the adapters with per-token routes — recording each token's route
 * where a trace wants them, and tracking the hidden states a router reads where it needs them. Every session builds
 * its decoder here, so a router's needs are met whichever command runs it.
 */
final class DecodePath implements AutoCloseable {
    private final RoutedDecoder routed;
    private final RouteRecorder recorder;
    private final Decoder decoder;

    private DecodePath(RoutedDecoder routed, RouteRecorder recorder, Decoder decoder) {
        this.routed = routed;
        this.recorder = recorder;
        this.decoder = decoder;
    }

    /**
     * @param router what routes the context's tokens (null: no adapters, plain decoding)
     * @param hidden where {@code router} reads hidden states (null when it needs none); it follows this context's
     * @param record keep every decoded token's route, for {@link #route}
     */
    static DecodePath open(Context context, AdapterSet adapters, Router router, RoutingForm form, HiddenStateFeed hidden,
            boolean record) {
        RoutedDecoder routed = router == null ? null : adapters.decoder(context, router, form);
        RouteRecorder recorder = routed != null && record ? new RouteRecorder(routed) : null;
        Decoder decoder = routed == null ? Decoder.plain(context) : recorder != null ? recorder : routed;
        if (hidden != null) {
            HiddenStates.Tracker tracker;
            try {
                tracker = HiddenStates.tracking(context, decoder);
            } catch (RuntimeException e) {
                if (routed != null) {
                    routed.close();
                }
                throw e;
            }
            hidden.follow(tracker);
            decoder = tracker;
        }
        return new DecodePath(routed, recorder, decoder);
    }

    /** Straight through: no adapters, or whatever adapters the context has set. */
    static DecodePath plain(Context context) {
        return new DecodePath(null, null, Decoder.plain(context));
    }

    Decoder decoder() {
        return decoder;
    }

    /** Whether tokens are routed (false: plain decoding, every token on the base model or the context's adapters). */
    boolean routed() {
        return routed != null;
    }

    /** The routes of the last decoded batch (only when {@link #routed()}). */
    RouteTable lastRoutes() {
        return routed.lastRoutes();
    }

    /** The route recorded for the token at {@code position} of {@code sequence}; the base model when nothing is routed. */
    Route recorded(int sequence, int position) {
        return routed == null ? Route.BASE : recorder == null ? Route.UNKNOWN : recorder.route(sequence, position);
    }

    /**
     * The route the token at {@code position} of {@code sequence} was decoded with (recorded), or for a token never
     * decoded (the last one generated), the route the router would give it; the base model when nothing is routed.
     */
    Route route(int sequence, int token, int position) {
        Route r = recorded(sequence, position);
        return r.known() ? r : undecoded(sequence, token, position, Route::of);
    }

    /** What the router gives a token without decoding it, read from its route table row by {@code read}. */
    Route undecoded(int sequence, int token, int position, BiFunction<RouteTable, Integer, Route> read) {
        Router router = routed.router();
        try (RouteTable t = new RouteTable(1, router.maxAdaptersPerToken())) {
            router.route(TokenBatch.single(token, position, sequence), t);
            return read.apply(t, 0);
        }
    }

    @Override
    public void close() {
        if (routed != null) {
            routed.close();
        }
    }
}
