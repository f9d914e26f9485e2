package io.molora.gguf;

import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * A metadata array. Numeric and bool elements are kept in a primitive array (byte[] for
 * UINT8/INT8, short[] for UINT16/INT16, int[] for UINT32/INT32, long[] for UINT64/INT64,
 * float[], double[], boolean[]) so that memory stays proportional to the file size;
 * strings are a {@code List<String>} and nested arrays a {@code List<GgufArray>}.
 * Unsigned values keep their bit pattern in the signed Java type.
 */
public record GgufArray(GgufValueType elementType, Object elements) {

    public GgufArray {
        Objects.requireNonNull(elementType, "elementType");
        Objects.requireNonNull(elements, "elements");
        Class<?> expected = switch (elementType) {
            case UINT8, INT8 -> byte[].class;
            case UINT16, INT16 -> short[].class;
            case UINT32, INT32 -> int[].class;
            case UINT64, INT64 -> long[].class;
            case FLOAT32 -> float[].class;
            case FLOAT64 -> double[].class;
            case BOOL -> boolean[].class;
            case STRING, ARRAY -> List.class;
        };
        if (!expected.isInstance(elements)) {
            throw new IllegalArgumentException(elementType + " array needs " + expected.getSimpleName()
                    + " elements, got " + elements.getClass().getSimpleName());
        }
        if (elements instanceof List<?> list) {
            Class<?> item = elementType == GgufValueType.STRING ? String.class : GgufArray.class;
            for (Object o : list) {
                if (!item.isInstance(o)) {
                    throw new IllegalArgumentException(elementType + " array holds a " + o);
                }
            }
            elements = List.copyOf(list);
        }
    }

    public static GgufArray ofStrings(List<String> strings) {
        return new GgufArray(GgufValueType.STRING, strings);
    }

    public static GgufArray ofFloats(float... values) {
        return new GgufArray(GgufValueType.FLOAT32, values.clone());
    }

    public static GgufArray ofInts(int... values) {
        return new GgufArray(GgufValueType.INT32, values.clone());
    }

    public int size() {
        return elements instanceof List<?> l ? l.size() : java.lang.reflect.Array.getLength(elements);
    }

    @SuppressWarnings("unchecked")
    public List<String> strings() {
        if (elementType != GgufValueType.STRING) {
            throw new IllegalStateException("not a string array but " + elementType);
        }
        return (List<String>) elements;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof GgufArray a && a.elementType == elementType
                && Arrays.deepEquals(new Object[] {elements}, new Object[] {a.elements});
    }

    @Override
    public int hashCode() {
        return 31 * elementType.hashCode() + Arrays.deepHashCode(new Object[] {elements});
    }

    @Override
    public String toString() {
        String body = elements instanceof List<?> l ? l.toString()
                : Arrays.deepToString(new Object[] {elements});
        return elementType + "[" + size() + "]" + (body.length() > 200 ? body.substring(0, 200) + "..." : body);
    }
}
