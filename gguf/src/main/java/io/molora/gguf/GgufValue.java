package io.molora.gguf;

import java.util.Objects;

/**
 * One metadata value with its on-disk type. The Java class of {@code value} follows the type:
 * Byte (UINT8, INT8), Short (UINT16, INT16), Integer (UINT32, INT32), Long (UINT64, INT64),
 * Float, Double, Boolean, String, {@link GgufArray}. Unsigned types keep their bit pattern.
 */
public record GgufValue(GgufValueType type, Object value) {

    public GgufValue {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(value, "value");
        Class<?> expected = switch (type) {
            case UINT8, INT8 -> Byte.class;
            case UINT16, INT16 -> Short.class;
            case UINT32, INT32 -> Integer.class;
            case UINT64, INT64 -> Long.class;
            case FLOAT32 -> Float.class;
            case FLOAT64 -> Double.class;
            case BOOL -> Boolean.class;
            case STRING -> String.class;
            case ARRAY -> GgufArray.class;
        };
        if (!expected.isInstance(value)) {
            throw new IllegalArgumentException(type + " value must be a " + expected.getSimpleName()
                    + ", got " + value.getClass().getSimpleName());
        }
    }

    public static GgufValue of(String s) { return new GgufValue(GgufValueType.STRING, s); }
    public static GgufValue ofUint8(int v) { return new GgufValue(GgufValueType.UINT8, (byte) v); }
    public static GgufValue ofInt8(byte v) { return new GgufValue(GgufValueType.INT8, v); }
    public static GgufValue ofUint16(int v) { return new GgufValue(GgufValueType.UINT16, (short) v); }
    public static GgufValue ofInt16(short v) { return new GgufValue(GgufValueType.INT16, v); }
    public static GgufValue ofUint32(long v) { return new GgufValue(GgufValueType.UINT32, (int) v); }
    public static GgufValue ofInt32(int v) { return new GgufValue(GgufValueType.INT32, v); }
    public static GgufValue ofUint64(long v) { return new GgufValue(GgufValueType.UINT64, v); }
    public static GgufValue ofInt64(long v) { return new GgufValue(GgufValueType.INT64, v); }
    public static GgufValue of(float v) { return new GgufValue(GgufValueType.FLOAT32, v); }
    public static GgufValue of(double v) { return new GgufValue(GgufValueType.FLOAT64, v); }
    public static GgufValue of(boolean v) { return new GgufValue(GgufValueType.BOOL, v); }
    public static GgufValue of(GgufArray v) { return new GgufValue(GgufValueType.ARRAY, v); }

    /** Integer value of any integer type, unsigned types zero-extended (UINT64 keeps its bits). */
    public long asLong() {
        return switch (type) {
            case UINT8 -> Byte.toUnsignedLong((Byte) value);
            case UINT16 -> Short.toUnsignedLong((Short) value);
            case UINT32 -> Integer.toUnsignedLong((Integer) value);
            case INT8, INT16, INT32, INT64, UINT64 -> ((Number) value).longValue();
            default -> throw new IllegalStateException("not an integer but " + type);
        };
    }

    /** Numeric value of any integer or float type. */
    public double asDouble() {
        return switch (type) {
            case FLOAT32, FLOAT64 -> ((Number) value).doubleValue();
            default -> asLong();
        };
    }

    public String asString() {
        if (type != GgufValueType.STRING) {
            throw new IllegalStateException("not a string but " + type);
        }
        return (String) value;
    }

    public GgufArray asArray() {
        if (type != GgufValueType.ARRAY) {
            throw new IllegalStateException("not an array but " + type);
        }
        return (GgufArray) value;
    }

    public boolean asBoolean() {
        if (type != GgufValueType.BOOL) {
            throw new IllegalStateException("not a bool but " + type);
        }
        return (Boolean) value;
    }
}
