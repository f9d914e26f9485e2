package io.molora.gguf;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/** Bounds-checked little-endian reads from a segment; every failure is a GgufFormatException. */
final class ByteCursor {
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Same bound as gguf.cpp GGUF_MAX_STRING_LENGTH. */
    static final long MAX_STRING_LENGTH = 1L << 30;

    private final MemorySegment segment;
    private final long size;
    private long position;

    ByteCursor(MemorySegment segment) {
        this.segment = segment;
        this.size = segment.byteSize();
    }

    long position() {
        return position;
    }

    long remaining() {
        return size - position;
    }

    long size() {
        return size;
    }

    private void need(long bytes, String what) throws GgufFormatException {
        if (bytes > remaining()) {
            throw new GgufFormatException(position, "truncated file: " + what + " needs " + bytes
                    + " bytes but only " + remaining() + " remain");
        }
    }

    byte i8(String what) throws GgufFormatException {
        need(1, what);
        return segment.get(ValueLayout.JAVA_BYTE, position++);
    }

    short i16(String what) throws GgufFormatException {
        need(2, what);
        short v = segment.get(I16, position);
        position += 2;
        return v;
    }

    int i32(String what) throws GgufFormatException {
        need(4, what);
        int v = segment.get(I32, position);
        position += 4;
        return v;
    }

    long i64(String what) throws GgufFormatException {
        need(8, what);
        long v = segment.get(I64, position);
        position += 8;
        return v;
    }

    float f32(String what) throws GgufFormatException {
        need(4, what);
        float v = segment.get(F32, position);
        position += 4;
        return v;
    }

    double f64(String what) throws GgufFormatException {
        need(8, what);
        double v = segment.get(F64, position);
        position += 8;
        return v;
    }

    boolean bool(String what) throws GgufFormatException {
        long at = position;
        byte b = i8(what);
        if (b != 0 && b != 1) {
            throw new GgufFormatException(at, what + " is a bool with invalid byte value " + (b & 0xff));
        }
        return b == 1;
    }

    /** A GGUF string: uint64 length then that many UTF-8 bytes. */
    String string(String what) throws GgufFormatException {
        long at = position;
        long length = i64(what + " length");
        if (length < 0 || length > MAX_STRING_LENGTH) {
            throw new GgufFormatException(at, what + " has length " + Long.toUnsignedString(length)
                    + ", more than the maximum " + MAX_STRING_LENGTH);
        }
        need(length, what);
        byte[] bytes = segment.asSlice(position, length).toArray(ValueLayout.JAVA_BYTE);
        position += length;
        return new String(bytes, StandardCharsets.UTF_8);
    }


    /** Copies {@code count} little-endian elements into a fresh primitive array. */
    Object primitiveArray(GgufValueType type, int count, String what) throws GgufFormatException {
        long bytes = (long) count * type.minEncodedSize();
        need(bytes, what);
        MemorySegment src = segment.asSlice(position, bytes);
        Object out = switch (type) {
            case UINT8, INT8 -> src.toArray(ValueLayout.JAVA_BYTE);
            case UINT16, INT16 -> src.toArray(I16);
            case UINT32, INT32 -> src.toArray(I32);
            case UINT64, INT64 -> src.toArray(I64);
            case FLOAT32 -> src.toArray(F32);
            case FLOAT64 -> src.toArray(F64);
            case BOOL -> {
                boolean[] b = new boolean[count];
                for (int i = 0; i < count; i++) {
                    byte v = src.get(ValueLayout.JAVA_BYTE, i);
                    if (v != 0 && v != 1) {
                        throw new GgufFormatException(position + i, what + " element " + i
                                + " is a bool with invalid byte value " + (v & 0xff));
                    }
                    b[i] = v == 1;
                }
                yield b;
            }
            default -> throw new IllegalArgumentException(type.toString());
        };
        position += bytes;
        return out;
    }

    void seek(long newPosition) throws GgufFormatException {
        if (newPosition < 0 || newPosition > size) {
            throw new GgufFormatException(position, "truncated file: cannot seek to " + newPosition
                    + ", file has " + size + " bytes");
        }
        position = newPosition;
    }
}
