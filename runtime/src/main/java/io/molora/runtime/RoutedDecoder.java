package io.molora.runtime;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.logging.Logger;

/**
 * Decodes with per-token adapter routes: asks the router for every token's route, then runs the batch once.
 *
 * <p>With molora's llama.cpp patch the routes go into the graph ({@code llama_set_lora_routes}): one decode whatever
 * the routes, no graph rebuild. Without it (a user's own llama.cpp) it falls back to segmented decoding — each run
 * of tokens with the same route is decoded separately after setting that route's adapters globally, which costs a
 * graph rebuild per switch. In that mode only the last run's outputs can be read after the decode (enough for
 * generation, which reads the last token's logits).
 */
public final class RoutedDecoder implements Decoder, AutoCloseable {
    private static final Logger LOG = Logger.getLogger(RoutedDecoder.class.getName());
    private static volatile boolean warned;

    private final Context context;
    private final List<LoraAdapter> adapters;
    private final float[] scales;
    private final Router router;
    private final RouteTable routes;
    private final boolean inGraph;
    private Batch segment;
    private int[] currentSegmentRoute;

    public RoutedDecoder(Context context, List<LoraAdapter> adapters, float[] scales, Router router) {
        this(context, adapters, scales, router, RoutingForm.AUTO);
    }

    /** Routes in-graph in {@code form} where the patches are there, by segmented decoding otherwise. */
    public RoutedDecoder(Context context, List<LoraAdapter> adapters, float[] scales, Router router, RoutingForm form) {
        this(context, adapters, scales, router, form, Context.routingSupported());
    }

    /** {@code inGraph = false} forces the segmented fallback (benchmarks and tests compare the two). */
    public RoutedDecoder(Context context, List<LoraAdapter> adapters, float[] scales, Router router, boolean inGraph) {
        this(context, adapters, scales, router, RoutingForm.AUTO, inGraph);
    }

    public RoutedDecoder(Context context, List<LoraAdapter> adapters, float[] scales, Router router, RoutingForm form,
            boolean inGraph) {
        if (adapters.size() != scales.length) {
            throw new IllegalArgumentException(adapters.size() + " adapters but " + scales.length + " scales");
        }
        this.context = context;
        this.adapters = List.copyOf(adapters);
        this.scales = scales.clone();
        this.router = router;
        this.routes = new RouteTable(context.batchSize(), router.maxAdaptersPerToken());
        this.inGraph = inGraph;
        if (inGraph) {
            try {
                context.setRouting(this.adapters, this.scales,
                        RoutingParams.defaults().withForm(form).withMaxRoutesPerToken(router.maxAdaptersPerToken()));
            } catch (RuntimeException e) {
                routes.close();
                throw e;
            }
        } else if (!Context.routingSupported() && !warned) {
            // only where the fallback is forced on the user; benchmarks and tests that ask for it know its cost
            warned = true;
            LOG.warning("llama.cpp without molora's routing patch: per-token routes are applied by segmented decoding, "
                    + "one decode and one graph rebuild per change of route (much slower)");
        }
    }

    public boolean inGraph() {
        return inGraph;
    }

    public Router router() {
        return router;
    }

    /** The routes the router gave for the last decoded batch (for traces and tests). */
    public RouteTable lastRoutes() {
        return routes;
    }

    @Override
    public void decode(Batch batch) {
        int n = batch.size();
        routes.clear(n);
        router.route(batch, routes);
        if (inGraph) {
            context.setRoutes(routes, n);
            context.decode(batch);
        } else {
            decodeSegmented(batch, n);
        }
    }

    private void decodeSegmented(Batch batch, int n) {
        if (segment == null) {
            segment = new Batch(context.batchSize());
        }
        int start = 0;
        while (start < n) {
            int[] route = routeOf(start);
            int end = start + 1;
            while (end < n && Arrays.equals(route, routeOf(end))) {
                end++;
            }
            applyGlobally(route);
            segment.clear();
            for (int i = start; i < end; i++) {
                segment.add(batch.token(i), batch.position(i), batch.sequence(i), batch.isOutput(i));
            }
            context.decode(segment);
            start = end;
        }
    }

    /** A token's route as (adapter, weight bits) pairs, comparable with Arrays.equals. */
    private int[] routeOf(int i) {
        int k = routes.k();
        int[] r = new int[2 * k];
        for (int j = 0; j < k; j++) {
            r[2 * j] = routes.adapter(i, j);
            r[2 * j + 1] = Float.floatToIntBits(routes.weight(i, j));
        }
        return r;
    }

    private void applyGlobally(int[] route) {
        if (Arrays.equals(route, currentSegmentRoute)) {
            return;
        }
        List<LoraAdapter> active = new ArrayList<>();
        List<Float> activeScales = new ArrayList<>();
        for (int j = 0; j < route.length; j += 2) {
            int a = route[j];
            if (a != RouteTable.NONE) {
                active.add(adapters.get(a));
                activeScales.add(scales[a] * Float.intBitsToFloat(route[j + 1]));
            }
        }
        float[] s = new float[activeScales.size()];
        for (int j = 0; j < s.length; j++) {
            s[j] = activeScales.get(j);
        }
        context.setAdapters(active, s);
        currentSegmentRoute = route;
    }

    @Override
    public void close() {
        routes.close();
        if (segment != null) {
            segment.close();
        }
        if (context.isOpen()) {
            if (inGraph) {
                context.clearRouting();
            } else {
                context.setAdapters(List.of(), new float[0]);
            }
        }
    }
}
