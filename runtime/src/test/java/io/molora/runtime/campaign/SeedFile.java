package io.molora.runtime.campaign;

import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufValueType;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A valid GGUF file taken apart into what the campaign mutates (metadata in file order, the tensor table with raw
 * type ids and dimensions) and what it copies unchanged (the data section). {@link Header#write} puts a header back
 * together byte for byte as gguf.cpp reads it, without the writer's checks, so any header value can be written.
 */
final class SeedFile {
    /** A tensor table entry as written: the ggml type id and dimensions are raw, so they can be made invalid. */
    record Tensor(String name, long typeId, long[] dims, long offset) {
        Tensor with(long newType, long[] newDims) {
            return new Tensor(name, newType, newDims, offset);
        }
    }

    /** A header to write: metadata (insertion order kept) and tensor table. */
    static final class Header {
        final LinkedHashMap<String, GgufValue> metadata;
        final List<Tensor> tensors;

        Header(Map<String, GgufValue> metadata, List<Tensor> tensors) {
            this.metadata = new LinkedHashMap<>(metadata);
            this.tensors = new ArrayList<>(tensors);
        }

        Header copy() {
            return new Header(metadata, tensors);
        }

        /** The header bytes (magic .. last tensor info), not padded. */
        byte[] bytes() {
            Out out = new Out();
            out.raw("GGUF".getBytes(StandardCharsets.US_ASCII)).u32(3).u64(tensors.size()).u64(metadata.size());
            metadata.forEach((k, v) -> {
                out.str(k).u32(v.type().id());
                out.value(v);
            });
            for (Tensor t : tensors) {
                out.str(t.name()).u32(t.dims().length);
                for (long d : t.dims()) {
                    out.u64(d);
                }
                out.u32(t.typeId()).u64(t.offset());
            }
            return out.toByteArray();
        }
    }

    final Path path;
    final Header header;
    final long dataOffset;
    final long fileSize;
    final int alignment;

    private SeedFile(Path path, Header header, long dataOffset, long fileSize, int alignment) {
        this.path = path;
        this.header = header;
        this.dataOffset = dataOffset;
        this.fileSize = fileSize;
        this.alignment = alignment;
    }

    static SeedFile read(Path path) throws IOException {
        try (GgufFile f = GgufFile.open(path)) {
            List<Tensor> tensors = new ArrayList<>();
            for (GgufTensorInfo t : f.tensors()) {
                tensors.add(new Tensor(t.name(), t.type().id(), t.shape(), t.offset()));
            }
            return new SeedFile(path, new Header(f.metadata(), tensors), f.dataOffset(), f.fileSize(), f.alignment());
        }
    }

    /**
     * Writes {@code header} (its bytes possibly changed by {@code flips}: offset, new byte pairs) padded to the seed's
     * alignment, then the seed's data section unchanged.
     */
    void write(Path out, byte[] headerBytes) throws IOException {
        int pad = (int) ((alignment - headerBytes.length % alignment) % alignment);
        try (FileChannel src = FileChannel.open(path, StandardOpenOption.READ);
             FileChannel dst = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer head = ByteBuffer.allocate(headerBytes.length + pad);
            head.put(headerBytes).position(head.capacity()).flip();
            while (head.hasRemaining()) {
                dst.write(head);
            }
            long at = dataOffset;
            while (at < fileSize) {
                at += src.transferTo(at, fileSize - at, dst);
            }
        }
    }

    /** Little-endian GGUF encoding of every value type. */
    private static final class Out extends ByteArrayOutputStream {
        Out raw(byte[] b) {
            write(b, 0, b.length);
            return this;
        }

        Out u8(long v) {
            write((int) v);
            return this;
        }

        Out u16(long v) {
            return raw(ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort((short) v).array());
        }

        Out u32(long v) {
            return raw(ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt((int) v).array());
        }

        Out u64(long v) {
            return raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array());
        }

        Out str(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            return u64(b.length).raw(b);
        }

        void value(GgufValue v) {
            switch (v.type()) {
                case UINT8, INT8 -> u8((Byte) v.value());
                case UINT16, INT16 -> u16((Short) v.value());
                case UINT32, INT32 -> u32((Integer) v.value());
                case UINT64, INT64 -> u64((Long) v.value());
                case FLOAT32 -> u32(Float.floatToRawIntBits((Float) v.value()));
                case FLOAT64 -> u64(Double.doubleToRawLongBits((Double) v.value()));
                case BOOL -> u8((Boolean) v.value() ? 1 : 0);
                case STRING -> str(v.asString());
                case ARRAY -> array(v.asArray());
            }
        }

        private void array(GgufArray a) {
            u32(a.elementType().id()).u64(a.size());
            Object e = a.elements();
            switch (a.elementType()) {
                case UINT8, INT8 -> raw((byte[]) e);
                case UINT16, INT16 -> {
                    for (short s : (short[]) e) {
                        u16(s);
                    }
                }
                case UINT32, INT32 -> {
                    for (int i : (int[]) e) {
                        u32(i);
                    }
                }
                case UINT64, INT64 -> {
                    for (long l : (long[]) e) {
                        u64(l);
                    }
                }
                case FLOAT32 -> {
                    for (float f : (float[]) e) {
                        u32(Float.floatToRawIntBits(f));
                    }
                }
                case FLOAT64 -> {
                    for (double d : (double[]) e) {
                        u64(Double.doubleToRawLongBits(d));
                    }
                }
                case BOOL -> {
                    for (boolean b : (boolean[]) e) {
                        u8(b ? 1 : 0);
                    }
                }
                case STRING -> a.strings().forEach(this::str);
                case ARRAY -> {
                    for (Object o : (List<?>) e) {
                        array((GgufArray) o);
                    }
                }
            }
        }
    }

    static GgufValue u32(long v) {
        return GgufValue.ofUint32(v);
    }

    static boolean isNumeric(GgufValueType t) {
        return t != GgufValueType.STRING && t != GgufValueType.ARRAY && t != GgufValueType.BOOL;
    }
}
