package io.molora.gguf;

/** Metadata value types, with the ids the GGUF format uses on disk (gguf.h gguf_type). */
public enum GgufValueType {
    UINT8(0, 1), INT8(1, 1), UINT16(2, 2), INT16(3, 2), UINT32(4, 4), INT32(5, 4),
    FLOAT32(6, 4), BOOL(7, 1), STRING(8, 8), ARRAY(9, 12), UINT64(10, 8), INT64(11, 8),
    FLOAT64(12, 8);

    private final int id;
    /** Smallest number of bytes one value of this type takes on disk; bounds allocations. */
    private final int minEncodedSize;

    GgufValueType(int id, int minEncodedSize) {
        this.id = id;
        this.minEncodedSize = minEncodedSize;
    }

    public int id() {
        return id;
    }

    int minEncodedSize() {
        return minEncodedSize;
    }

    private static final GgufValueType[] BY_ID = new GgufValueType[13];

    static {
        for (GgufValueType t : values()) {
            BY_ID[t.id] = t;
        }
    }

    /** The type with this on-disk id, or null when the id is not a GGUF value type. */
    public static GgufValueType byId(long id) {
        return id >= 0 && id < BY_ID.length ? BY_ID[(int) id] : null;
    }
}
