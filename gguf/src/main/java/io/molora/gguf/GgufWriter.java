package io.molora.gguf;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Writes a GGUF v3 file. Collect metadata and tensor declarations, then {@link #write(Path)}
 * streams the header and each tensor's bytes (pulled from its {@link TensorSource}) to disk.
 * Tensor data are aligned to general.alignment when that key is set (UINT32), else 32, and
 * laid out in declaration order with the same offsets gguf.cpp expects.
 */
public final class GgufWriter {
    private final Map<String, GgufValue> metadata = new LinkedHashMap<>();
    private final List<Declared> tensors = new ArrayList<>();
    private final Set<String> tensorNames = new LinkedHashSet<>();

    private record Declared(String name, GgmlType type, long[] shape, long byteSize, TensorSource source) {}

    /** An empty file: no metadata, no tensors. */
    public GgufWriter() {}

    public GgufWriter put(String key, GgufValue value) {
        Objects.requireNonNull(value, "value");
        if (key == null || key.isEmpty()) {
            throw new IllegalArgumentException("metadata key must be non-empty");
        }
        if (key.equals(GgufParser.ALIGNMENT_KEY)) {
            long a = value.type() == GgufValueType.UINT32 ? value.asLong() : -1;
            if (a <= 0 || (a & (a - 1)) != 0 || a > (1 << 30)) {
                throw new IllegalArgumentException("general.alignment must be a UINT32 power of two, got " + value);
            }
        }
        metadata.put(key, value);
        return this;
    }

    public GgufWriter put(String key, String value) {
        return put(key, GgufValue.of(value));
    }

    public GgufWriter putAll(Map<String, GgufValue> values) {
        values.forEach(this::put);
        return this;
    }

    /** Declares a tensor; {@code shape} is in ggml order (shape[0] = row length). */
    public GgufWriter addTensor(String name, GgmlType type, long[] shape, TensorSource source) {
        Objects.requireNonNull(type, "type");
        Objects.requireNonNull(source, "source");
        if (name.getBytes(StandardCharsets.UTF_8).length >= GgufParser.MAX_NAME) {
            throw new IllegalArgumentException("tensor name longer than 63 bytes: " + name);
        }
        if (!tensorNames.add(name)) {
            throw new IllegalArgumentException("duplicate tensor " + name);
        }
        if (shape.length > GgufParser.MAX_DIMS) {
            throw new IllegalArgumentException(name + ": at most 4 dimensions");
        }
        long elements = 1;
        for (long d : shape) {
            if (d <= 0) {
                throw new IllegalArgumentException(name + ": dimensions must be positive " + Arrays.toString(shape));
            }
            elements = Math.multiplyExact(elements, d);
        }
        long rowLength = shape.length == 0 ? 1 : shape[0];
        if (rowLength % type.blockSize() != 0) {
            throw new IllegalArgumentException(name + ": row length " + rowLength + " is not a multiple of the "
                    + type + " block size " + type.blockSize());
        }
        tensors.add(new Declared(name, type, shape.clone(), type.byteSize(elements), source));
        return this;
    }

    /** The metadata declared so far, in insertion order. */
    public Map<String, GgufValue> metadata() {
        return java.util.Collections.unmodifiableMap(new LinkedHashMap<>(metadata));
    }

    public int alignment() {
        GgufValue a = metadata.get(GgufParser.ALIGNMENT_KEY);
        return a == null ? GgufParser.DEFAULT_ALIGNMENT : (int) a.asLong();
    }

    /** Exact size in bytes of the file {@link #write(Path)} will produce. */
    public long plannedSize() {
        long headerSize = header().length;
        long dataStart = tensors.isEmpty() ? headerSize : GgufParser.alignUp(headerSize, alignment());
        return dataStart + dataSectionSize();
    }

    private long dataSectionSize() {
        long size = 0;
        for (Declared t : tensors) {
            size += GgufParser.alignUp(t.byteSize, alignment());
        }
        return size;
    }

    /**
     * Writes the file. The data goes to a temporary sibling first and is moved into place only
     * when complete, so a failed write never leaves a truncated file under {@code path}.
     */
    public void write(Path path) throws IOException {
        Path absolute = path.toAbsolutePath();
        Path tmp = absolute.resolveSibling(absolute.getFileName() + ".part");
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ChannelSink sink = new ChannelSink(out);
            byte[] header = header();
            sink.write(ByteBuffer.wrap(header));
            if (!tensors.isEmpty()) {
                sink.pad(GgufParser.alignUp(header.length, alignment()) - header.length);
            }
            for (int i = 0; i < tensors.size(); i++) {
                Declared t = tensors.get(i);
                long before = sink.count;
                t.source.writeTo(sink);
                long written = sink.count - before;
                if (written != t.byteSize) {
                    throw new IOException("tensor '" + t.name + "' source wrote " + written + " bytes, expected "
                            + t.byteSize);
                }
                // The last tensor is padded too: gguf.cpp sizes the data section as the sum of
                // padded sizes and reads that much when it loads the data.
                sink.pad(GgufParser.alignUp(t.byteSize, alignment()) - t.byteSize);
            }
            sink.flush();
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(tmp);
            throw e;
        }
        Files.move(tmp, absolute, StandardCopyOption.REPLACE_EXISTING);
    }

    /** Header, metadata and tensor infos, without the padding before the data section. */
    private byte[] header() {
        Encoder e = new Encoder();
        e.u32(GgufParser.MAGIC);
        e.u32(3);
        e.u64(tensors.size());
        e.u64(metadata.size());
        metadata.forEach((k, v) -> {
            e.string(k);
            e.u32(v.type().id());
            e.value(v);
        });
        long offset = 0;
        for (Declared t : tensors) {
            e.string(t.name);
            e.u32(t.shape.length);
            for (long d : t.shape) {
                e.u64(d);
            }
            e.u32(t.type.id());
            e.u64(offset);
            offset += GgufParser.alignUp(t.byteSize, alignment());
        }
        return e.bytes();
    }

    /** Little-endian encoder for the header. */
    private static final class Encoder {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void u8(int v) { out.write(v); }
        void u16(int v) { scratch.clear(); scratch.putShort((short) v); out.write(scratch.array(), 0, 2); }
        void u32(int v) { scratch.clear(); scratch.putInt(v); out.write(scratch.array(), 0, 4); }
        void u64(long v) { scratch.clear(); scratch.putLong(v); out.write(scratch.array(), 0, 8); }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            u64(b.length);
            out.write(b, 0, b.length);
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
                case STRING -> string((String) v.value());
                case ARRAY -> array(v.asArray());
            }
        }

        void array(GgufArray a) {
            u32(a.elementType().id());
            u64(a.size());
            switch (a.elements()) {
                case byte[] b -> out.write(b, 0, b.length);
                case short[] s -> { for (short x : s) u16(x); }
                case int[] i -> { for (int x : i) u32(x); }
                case long[] l -> { for (long x : l) u64(x); }
                case float[] f -> { for (float x : f) u32(Float.floatToRawIntBits(x)); }
                case double[] d -> { for (double x : d) u64(Double.doubleToRawLongBits(x)); }
                case boolean[] z -> { for (boolean x : z) u8(x ? 1 : 0); }
                case List<?> list -> {
                    for (Object o : list) {
                        if (o instanceof String s) {
                            string(s);
                        } else {
                            array((GgufArray) o);
                        }
                    }
                }
                default -> throw new IllegalStateException(a.elements().getClass().toString());
            }
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }

    /** Buffers writes to the channel and counts bytes. */
    private static final class ChannelSink implements TensorSink {
        private final FileChannel channel;
        private final ByteBuffer buffer = ByteBuffer.allocateDirect(4 << 20);
        long count;

        ChannelSink(FileChannel channel) {
            this.channel = channel;
        }

        @Override
        public void write(ByteBuffer bytes) throws IOException {
            count += bytes.remaining();
            while (bytes.hasRemaining()) {
                if (!buffer.hasRemaining()) {
                    flush();
                }
                int n = Math.min(buffer.remaining(), bytes.remaining());
                ByteBuffer part = bytes.slice(bytes.position(), n);
                buffer.put(part);
                bytes.position(bytes.position() + n);
            }
        }

        void pad(long n) throws IOException {
            write(ByteBuffer.allocate((int) n));
        }

        void flush() throws IOException {
            buffer.flip();
            while (buffer.hasRemaining()) {
                channel.write(buffer);
            }
            buffer.clear();
        }
    }
}
