package io.molora.engine;

import io.molora.runtime.RouteTable;
import java.util.List;
import java.util.Map;

/**
 * The adapters that served one token, with their weights; no adapter = the base model; {@code adapters == null}: the
 * route is not known (the router never saw the token).
 */
public record Route(int[] adapters, float[] weights) {
    /** The route of a token the router never saw. */
    public static final Route UNKNOWN = new Route(null, null);
    /** The base model alone. */
    public static final Route BASE = new Route(new int[0], new float[0]);

    /** The route of token i of a route table: the slots with an adapter, heaviest first (for traces). */
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

    /** The adapters token i of a route table really uses: slots with an adapter and a non-zero weight, in slot order. */
    public static Route used(RouteTable table, int i) {
        int n = 0;
        for (int j = 0; j < table.k(); j++) {
            n += table.adapter(i, j) != RouteTable.NONE && table.weight(i, j) != 0f ? 1 : 0;
        }
        int[] a = new int[n];
        float[] w = new float[n];
        int s = 0;
        for (int j = 0; j < table.k(); j++) {
            if (table.adapter(i, j) != RouteTable.NONE && table.weight(i, j) != 0f) {
                a[s] = table.adapter(i, j);
                w[s++] = table.weight(i, j);
            }
        }
        return new Route(a, w);
    }

    public boolean known() {
        return adapters != null;
    }

    /**
     * The route as molora's traces write it (complete's records, the server's {@code molora.routes}): each adapter by
     * name, {@code name:weight} when its weight is not 1; empty for the base model and for an unknown route.
     */
    public List<String> labels(List<String> names) {
        if (adapters == null) {
            return List.of();
        }
        String[] out = new String[adapters.length];
        for (int j = 0; j < adapters.length; j++) {
            String name = names.get(adapters[j]);
            out[j] = weights[j] == 1f ? name : name + ":" + weights[j];
        }
        return List.of(out);
    }

    /** Adds this token to {@code counts}: one for each of its adapters (by name), or one for "none". */
    public void countInto(Map<String, Integer> counts, List<String> names) {
        if (adapters == null || adapters.length == 0) {
            counts.merge("none", 1, Integer::sum);
            return;
        }
        for (int a : adapters) {
            counts.merge(names.get(a), 1, Integer::sum);
        }
    }
}
