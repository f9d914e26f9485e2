package io.molora.runtime;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Per-token routes for one decode: for token i and slot j &lt; k, an adapter index (or {@link #NONE}) and its weight.
 * Kept in native memory in exactly the layout {@code llama_set_lora_routes} reads ({@code ids[i*k + j]}), so handing
 * it over copies nothing and a decode allocates nothing.
 */
public final class RouteTable implements AutoCloseable {
    /** "No adapter" — the base model alone. */
    public static final int NONE = -1;

    // shared: a scheduler may be built on one thread and driven on another (one thread at a time)
    private final Arena arena = Arena.ofShared();
    private final int capacity;
    private final int k;
    private final MemorySegment ids;      // int32_t[capacity * k]
    private final MemorySegment weights;  // float[capacity * k]

    public RouteTable(int capacity, int k) {
        if (capacity < 1 || k < 1) {
            throw new IllegalArgumentException("capacity and k must be >= 1, got " + capacity + ", " + k);
        }
        this.capacity = capacity;
        this.k = k;
        this.ids = arena.allocate(ValueLayout.JAVA_INT, (long) capacity * k);
        this.weights = arena.allocate(ValueLayout.JAVA_FLOAT, (long) capacity * k);
        clear(capacity);
    }

    public int capacity() {
        return capacity;
    }

    public int k() {
        return k;
    }

    /** Routes tokens 0..n-1 to no adapter. */
    public void clear(int n) {
        checkToken(n - 1);
        ids.asSlice(0, (long) n * k * Integer.BYTES).fill((byte) 0xFF);  // -1 in every int
        weights.asSlice(0, (long) n * k * Float.BYTES).fill((byte) 0);
    }

    /** Token i goes to one adapter with the given weight (other slots: none). */
    public void set(int i, int adapter, float weight) {
        set(i, 0, adapter, weight);
        for (int j = 1; j < k; j++) {
            set(i, j, NONE, 0f);
        }
    }

    /** Slot j of token i. */
    public void set(int i, int slot, int adapter, float weight) {
        checkToken(i);
        if (slot < 0 || slot >= k) {
            throw new IndexOutOfBoundsException("slot " + slot + " outside [0, " + k + ")");
        }
        if (adapter < NONE) {
            throw new IllegalArgumentException("adapter index must be >= 0 or NONE, got " + adapter);
        }
        if (!Float.isFinite(weight)) {
            throw new IllegalArgumentException("route weight must be finite, got " + weight);
        }
        long at = (long) i * k + slot;
        ids.setAtIndex(ValueLayout.JAVA_INT, at, adapter);
        weights.setAtIndex(ValueLayout.JAVA_FLOAT, at, adapter == NONE ? 0f : weight);
    }

    public int adapter(int i, int slot) {
        checkToken(i);
        return ids.getAtIndex(ValueLayout.JAVA_INT, (long) i * k + slot);
    }

    public float weight(int i, int slot) {
        checkToken(i);
        return weights.getAtIndex(ValueLayout.JAVA_FLOAT, (long) i * k + slot);
    }

    /** The highest adapter index used by tokens 0..n-1, or NONE. */
    int maxAdapter(int n) {
        int max = NONE;
        for (long at = 0, end = (long) n * k; at < end; at++) {
            max = Math.max(max, ids.getAtIndex(ValueLayout.JAVA_INT, at));
        }
        return max;
    }

    MemorySegment idsSegment() {
        return ids;
    }

    MemorySegment weightsSegment() {
        return weights;
    }

    private void checkToken(int i) {
        if (i < 0 || i >= capacity) {
            throw new IndexOutOfBoundsException("token " + i + " outside the route table [0, " + capacity + ")");
        }
    }

    @Override
    public void close() {
        if (arena.scope().isAlive()) {
            arena.close();
        }
    }
}
