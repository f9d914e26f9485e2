package io.molora.gguf;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;

/**
 * Conversions from float32 to the on-disk encodings the writer supports, bit-exact with
 * ggml's reference code: F16 is IEEE binary16 with round-to-nearest-even (GGML_FP32_TO_FP16),
 * Q8_0 is quantize_row_q8_0_ref (blocks of 32: d = amax/127 stored as F16, q = roundf(x/d)).
 */
public final class TensorEncoding {
    public static final int Q8_0_BLOCK = 32;

    private TensorEncoding() {}

    public static boolean canEncode(GgmlType type) {
        return type == GgmlType.F32 || type == GgmlType.F16 || type == GgmlType.Q8_0;
    }

    /** Appends the encoding of {@code src[0..n)} to {@code dst} (little-endian). */
    public static void encode(GgmlType type, float[] src, int n, ByteBuffer dst) {
        dst.order(ByteOrder.LITTLE_ENDIAN);
        switch (type) {
            case F32 -> {
                for (int i = 0; i < n; i++) {
                    dst.putFloat(src[i]);
                }
            }
            case F16 -> {
                for (int i = 0; i < n; i++) {
                    dst.putShort(Float.floatToFloat16(src[i]));
                }
            }
            case Q8_0 -> quantizeQ8_0(src, n, dst);
            default -> throw new IllegalArgumentException("cannot encode " + type);
        }
    }

    /** quantize_row_q8_0_ref; {@code n} must be a multiple of 32. */
    public static void quantizeQ8_0(float[] x, int n, ByteBuffer dst) {
        if (n % Q8_0_BLOCK != 0) {
            throw new IllegalArgumentException("Q8_0 needs a multiple of 32 values, got " + n);
        }
        dst.order(ByteOrder.LITTLE_ENDIAN);
        for (int block = 0; block < n; block += Q8_0_BLOCK) {
            float amax = 0f;
            for (int j = 0; j < Q8_0_BLOCK; j++) {
                amax = Math.max(amax, Math.abs(x[block + j]));
            }
            float d = amax / 127f;
            float id = d != 0f ? 1.0f / d : 0.0f;
            dst.putShort(Float.floatToFloat16(d));
            for (int j = 0; j < Q8_0_BLOCK; j++) {
                dst.put((byte) roundHalfAwayFromZero(x[block + j] * id));
            }
        }
    }

    /** C roundf: halfway cases away from zero (Math.round would round -2.5 to -2). */
    static float roundHalfAwayFromZero(float v) {
        return (float) Math.copySign(Math.floor(Math.abs((double) v) + 0.5), v);
    }

    /** Decodes element {@code i} of a tensor's data as float (F32, F16, Q8_0). */
    public static float decode(GgmlType type, MemorySegment data, long i) {
        ByteOrder le = ByteOrder.LITTLE_ENDIAN;
        return switch (type) {
            case F32 -> data.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(le), i * 4);
            case F16 -> Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(le), i * 2));
            case Q8_0 -> {
                long block = i / Q8_0_BLOCK * 34;
                float d = Float.float16ToFloat(data.get(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(le), block));
                yield d * data.get(java.lang.foreign.ValueLayout.JAVA_BYTE, block + 2 + i % Q8_0_BLOCK);
            }
            default -> throw new IllegalArgumentException("cannot decode " + type);
        };
    }
}
