package io.molora.gguf;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Parses and validates a GGUF header. Mirrors the checks of ggml/src/gguf.cpp
 * (gguf_init_from_reader) and adds the ones a memory-mapped reader needs: every count and
 * length is checked against the bytes that remain before anything is allocated, so hostile
 * input cannot cause an OutOfMemoryError, and tensor data must lie inside the file, aligned
 * and non-overlapping.
 */
final class GgufParser {
    static final int MAGIC = 0x46554747; // "GGUF" read little-endian
    static final int MAX_DIMS = 4; // GGML_MAX_DIMS
    static final int MAX_NAME = 64; // GGML_MAX_NAME, includes the terminating NUL
    static final int MAX_ARRAY_NESTING = 8;
    static final long MAX_ARRAY_ELEMENTS = 1L << 30; // GGUF_MAX_ARRAY_ELEMENTS
    static final int DEFAULT_ALIGNMENT = 32;
    static final String ALIGNMENT_KEY = "general.alignment";
    /** name length (8) + n_dims (4) + type (4) + offset (8): the least one tensor info takes. */
    private static final int MIN_TENSOR_INFO_BYTES = 24;
    /** key length (8) + value type (4) + smallest value (1). */
    private static final int MIN_KV_BYTES = 13;

    record Parsed(int version, int alignment, long dataOffset, Map<String, GgufValue> metadata,
                  List<GgufTensorInfo> tensors) {}

    private GgufParser() {}

    static Parsed parse(MemorySegment segment) throws GgufFormatException {
        ByteCursor in = new ByteCursor(segment);
        int magic = in.i32("magic");
        if (magic != MAGIC) {
            throw new GgufFormatException(0, String.format("bad magic 0x%08x, expected 'GGUF'", magic));
        }
        int version = in.i32("version");
        if (version == 1) {
            throw new GgufFormatException(4, "GGUF version 1 is not supported (only 2 and 3)");
        }
        if (version != 2 && version != 3) {
            String hint = (version & 0xffff) == 0 ? " (a big-endian file?)" : "";
            throw new GgufFormatException(4, "unsupported GGUF version " + Integer.toUnsignedString(version)
                    + hint + ", only 2 and 3 are supported");
        }
        long tensorCountAt = in.position();
        long tensorCount = in.i64("tensor count");
        long kvCountAt = in.position();
        long kvCount = in.i64("metadata count");
        // Counts come before the entries they count, so the entries still to come bound them.
        if (tensorCount < 0 || tensorCount > in.remaining() / MIN_TENSOR_INFO_BYTES) {
            throw new GgufFormatException(tensorCountAt, "tensor count " + Long.toUnsignedString(tensorCount)
                    + " cannot fit in the " + in.remaining() + " remaining bytes");
        }
        if (kvCount < 0 || kvCount > in.remaining() / MIN_KV_BYTES) {
            throw new GgufFormatException(kvCountAt, "metadata count " + Long.toUnsignedString(kvCount)
                    + " cannot fit in the " + in.remaining() + " remaining bytes");
        }

        Map<String, GgufValue> metadata = new LinkedHashMap<>();
        long alignmentAt = -1;
        for (long i = 0; i < kvCount; i++) {
            long keyAt = in.position();
            String key = in.string("key of metadata entry " + i);
            if (key.isEmpty()) {
                throw new GgufFormatException(keyAt, "metadata entry " + i + " has an empty key");
            }
            if (metadata.containsKey(key)) {
                throw new GgufFormatException(keyAt, "duplicate metadata key '" + key + "'");
            }
            long typeAt = in.position();
            GgufValueType type = valueType(in.i32("type of '" + key + "'"), typeAt, "'" + key + "'");
            if (key.equals(ALIGNMENT_KEY)) {
                alignmentAt = keyAt;
            }
            metadata.put(key, readValue(in, type, key, 0));
        }

        int alignment = alignment(metadata, alignmentAt);

        // The count is bounded by the file size, which may exceed int range for huge files.
        List<GgufTensorInfo> tensors = new ArrayList<>((int) Math.min(tensorCount, 1 << 16));
        Map<String, Long> nameOffsets = new HashMap<>();
        List<Long> infoOffsets = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            long infoAt = in.position();
            String name = in.string("name of tensor " + i);
            if (name.getBytes(java.nio.charset.StandardCharsets.UTF_8).length >= MAX_NAME) {
                throw new GgufFormatException(infoAt, "tensor " + i + " name is longer than "
                        + (MAX_NAME - 1) + " bytes");
            }
            if (nameOffsets.putIfAbsent(name, infoAt) != null) {
                throw new GgufFormatException(infoAt, "duplicate tensor name '" + name + "'");
            }
            long dimsAt = in.position();
            int nDims = in.i32("dimension count of '" + name + "'");
            if (nDims < 0 || nDims > MAX_DIMS) {
                throw new GgufFormatException(dimsAt, "tensor '" + name + "' has "
                        + Integer.toUnsignedString(nDims) + " dimensions, at most " + MAX_DIMS + " allowed");
            }
            long[] shape = new long[nDims];
            long elements = 1;
            for (int d = 0; d < nDims; d++) {
                long dimAt = in.position();
                shape[d] = in.i64("dimension " + d + " of '" + name + "'");
                if (shape[d] <= 0) {
                    throw new GgufFormatException(dimAt, "tensor '" + name + "' dimension " + d
                            + " is " + shape[d] + ", must be positive");
                }
                if (elements > Long.MAX_VALUE / shape[d]) {
                    throw new GgufFormatException(dimAt, "tensor '" + name + "' element count overflows: shape "
                            + Arrays.toString(Arrays.copyOf(shape, d + 1)));
                }
                elements *= shape[d];
            }
            long typeAt = in.position();
            int typeId = in.i32("type of '" + name + "'");
            GgmlType type = GgmlType.byId(Integer.toUnsignedLong(typeId));
            if (type == null) {
                throw new GgufFormatException(typeAt, "tensor '" + name + "' has unknown ggml type "
                        + Integer.toUnsignedString(typeId));
            }
            long rowLength = nDims == 0 ? 1 : shape[0];
            if (rowLength % type.blockSize() != 0) {
                throw new GgufFormatException(typeAt, "tensor '" + name + "' of type " + type + " has "
                        + rowLength + " elements per row, not a multiple of the block size " + type.blockSize());
            }
            // elements / blockSize * typeSize: blockSize >= 1 so this only overflows via typeSize
            long blocks = elements / type.blockSize();
            if (blocks > Long.MAX_VALUE / type.typeSize()) {
                throw new GgufFormatException(typeAt, "tensor '" + name + "' byte size overflows");
            }
            long offsetAt = in.position();
            long offset = in.i64("data offset of '" + name + "'");
            if (offset < 0 || offset % alignment != 0) {
                throw new GgufFormatException(offsetAt, "tensor '" + name + "' data offset "
                        + Long.toUnsignedString(offset) + " is not a multiple of the alignment " + alignment);
            }
            tensors.add(new GgufTensorInfo(name, type, shape, offset, blocks * type.typeSize()));
            infoOffsets.add(infoAt);
        }

        // gguf.cpp pads to the alignment only when there are tensors.
        long dataOffset = in.position();
        if (tensorCount > 0) {
            long padded = alignUp(dataOffset, alignment);
            if (padded > in.size()) {
                throw new GgufFormatException(dataOffset, "truncated file: data section would start at "
                        + padded + " but the file has " + in.size() + " bytes");
            }
            dataOffset = padded;
        }
        checkTensorPlacement(tensors, infoOffsets, dataOffset, in.size());
        return new Parsed(version, alignment, dataOffset, Collections.unmodifiableMap(metadata),
                List.copyOf(tensors));
    }

    private static GgufValueType valueType(int id, long at, String what) throws GgufFormatException {
        GgufValueType type = GgufValueType.byId(Integer.toUnsignedLong(id));
        if (type == null) {
            throw new GgufFormatException(at, what + " has unknown value type " + Integer.toUnsignedString(id));
        }
        return type;
    }

    private static GgufValue readValue(ByteCursor in, GgufValueType type, String key, int depth)
            throws GgufFormatException {
        String what = "value of '" + key + "'";
        return switch (type) {
            case UINT8, INT8 -> new GgufValue(type, in.i8(what));
            case UINT16, INT16 -> new GgufValue(type, in.i16(what));
            case UINT32, INT32 -> new GgufValue(type, in.i32(what));
            case UINT64, INT64 -> new GgufValue(type, in.i64(what));
            case FLOAT32 -> new GgufValue(type, in.f32(what));
            case FLOAT64 -> new GgufValue(type, in.f64(what));
            case BOOL -> new GgufValue(type, in.bool(what));
            case STRING -> new GgufValue(type, in.string(what));
            case ARRAY -> new GgufValue(type, readArray(in, key, depth + 1));
        };
    }

    private static GgufArray readArray(ByteCursor in, String key, int depth) throws GgufFormatException {
        long at = in.position();
        if (depth > MAX_ARRAY_NESTING) {
            throw new GgufFormatException(at, "arrays in '" + key + "' are nested deeper than "
                    + MAX_ARRAY_NESTING + " levels");
        }
        GgufValueType elementType = valueType(in.i32("array element type of '" + key + "'"), at,
                "array in '" + key + "'");
        long countAt = in.position();
        long count = in.i64("array length of '" + key + "'");
        if (count < 0 || count > MAX_ARRAY_ELEMENTS || count > in.remaining() / elementType.minEncodedSize()) {
            // MAX_ARRAY_ELEMENTS (2^30) also keeps the count inside int range for Java arrays.
            throw new GgufFormatException(countAt, "array in '" + key + "' claims "
                    + Long.toUnsignedString(count) + " " + elementType + " elements, which cannot fit in the "
                    + in.remaining() + " remaining bytes");
        }
        int n = (int) count;
        String what = "array elements of '" + key + "'";
        return switch (elementType) {
            case STRING -> {
                List<String> strings = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    strings.add(in.string("element " + i + " of '" + key + "'"));
                }
                yield new GgufArray(elementType, strings);
            }
            case ARRAY -> {
                List<GgufArray> nested = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    nested.add(readArray(in, key, depth + 1));
                }
                yield new GgufArray(elementType, nested);
            }
            default -> new GgufArray(elementType, in.primitiveArray(elementType, n, what));
        };
    }

    private static int alignment(Map<String, GgufValue> metadata, long at) throws GgufFormatException {
        GgufValue value = metadata.get(ALIGNMENT_KEY);
        if (value == null) {
            return DEFAULT_ALIGNMENT;
        }
        if (value.type() != GgufValueType.UINT32) {
            throw new GgufFormatException(at, ALIGNMENT_KEY + " must be UINT32 but is " + value.type());
        }
        long alignment = value.asLong();
        if (alignment == 0 || (alignment & (alignment - 1)) != 0 || alignment > (1 << 30)) {
            throw new GgufFormatException(at, ALIGNMENT_KEY + " " + alignment + " is not a power of two");
        }
        return (int) alignment;
    }

    private static void checkTensorPlacement(List<GgufTensorInfo> tensors, List<Long> infoOffsets,
                                             long dataOffset, long fileSize) throws GgufFormatException {
        long available = fileSize - dataOffset;
        for (int i = 0; i < tensors.size(); i++) {
            GgufTensorInfo t = tensors.get(i);
            if (t.offset() > available || t.byteSize() > available - t.offset()) {
                throw new GgufFormatException(infoOffsets.get(i), "tensor '" + t.name() + "' data ["
                        + (dataOffset + t.offset()) + ", +" + t.byteSize() + ") lies beyond the end of the file ("
                        + fileSize + " bytes)");
            }
        }
        Integer[] order = new Integer[tensors.size()];
        for (int i = 0; i < order.length; i++) {
            order[i] = i;
        }
        Arrays.sort(order, Comparator.comparingLong(i -> tensors.get(i).offset()));
        for (int k = 1; k < order.length; k++) {
            GgufTensorInfo prev = tensors.get(order[k - 1]);
            GgufTensorInfo cur = tensors.get(order[k]);
            if (prev.offset() + prev.byteSize() > cur.offset()) {
                throw new GgufFormatException(infoOffsets.get(order[k]), "tensor '" + cur.name()
                        + "' data at offset " + cur.offset() + " overlaps tensor '" + prev.name() + "' at offset "
                        + prev.offset() + " (" + prev.byteSize() + " bytes)");
            }
        }
    }

    static long alignUp(long value, long alignment) {
        return (value + alignment - 1) & -alignment;
    }
}
