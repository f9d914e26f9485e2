package io.molora.gguf;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A parsed GGUF file. {@link #open(Path)} memory-maps the file into an {@link Arena} this
 * object owns; tensor data are slices of that mapping, never copies, and become
 * inaccessible once the file is closed. Every accessor throws IllegalStateException after
 * {@link #close()}. Safe to share between threads (the arena is shared).
 */
public final class GgufFile implements AutoCloseable {
    private final String source;
    private final Arena arena; // null when the caller owns the segment
    private final MemorySegment segment;
    private final GgufParser.Parsed parsed;
    private final Map<String, GgufTensorInfo> tensorsByName;
    private volatile boolean closed;

    private GgufFile(String source, Arena arena, MemorySegment segment, GgufParser.Parsed parsed) {
        this.source = source;
        this.arena = arena;
        this.segment = segment;
        this.parsed = parsed;
        Map<String, GgufTensorInfo> byName = new HashMap<>();
        for (GgufTensorInfo t : parsed.tensors()) {
            byName.put(t.name(), t);
        }
        this.tensorsByName = Map.copyOf(byName);
    }

    /** Maps and parses {@code path}. Throws GgufFormatException when the file is not valid GGUF. */
    public static GgufFile open(Path path) throws IOException {
        Arena arena = Arena.ofShared();
        try (FileChannel channel = FileChannel.open(path, StandardOpenOption.READ)) {
            MemorySegment segment = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size(), arena);
            return new GgufFile(path.toString(), arena, segment, GgufParser.parse(segment));
        } catch (IOException | RuntimeException | Error e) {
            arena.close();
            throw e;
        }
    }

    /**
     * Parses GGUF bytes the caller already holds (e.g. a heap segment). The caller keeps
     * ownership of the memory; closing this object only marks it closed.
     */
    public static GgufFile parse(MemorySegment bytes, String sourceName) throws GgufFormatException {
        return new GgufFile(sourceName, null, bytes, GgufParser.parse(bytes));
    }

    private void checkOpen() {
        if (closed) {
            throw new IllegalStateException("GGUF file " + source + " is closed");
        }
    }

    public String source() {
        return source;
    }

    /** GGUF format version, 2 or 3. */
    public int version() {
        checkOpen();
        return parsed.version();
    }

    public int alignment() {
        checkOpen();
        return parsed.alignment();
    }

    /** Absolute byte offset of the tensor data section. */
    public long dataOffset() {
        checkOpen();
        return parsed.dataOffset();
    }

    public long fileSize() {
        checkOpen();
        return segment.byteSize();
    }

    /** All metadata in file order (unmodifiable). */
    public Map<String, GgufValue> metadata() {
        checkOpen();
        return parsed.metadata();
    }

    public Optional<GgufValue> get(String key) {
        checkOpen();
        return Optional.ofNullable(parsed.metadata().get(key));
    }

    /** The string value of {@code key}; empty when absent, GgufFormatException when of another type. */
    public Optional<String> string(String key) throws GgufFormatException {
        Optional<GgufValue> v = get(key);
        if (v.isPresent() && v.get().type() != GgufValueType.STRING) {
            throw new GgufFormatException(-1, "metadata '" + key + "' must be a STRING but is " + v.get().type());
        }
        return v.map(GgufValue::asString);
    }

    /** The value of integer-typed {@code key}; empty when absent, GgufFormatException when not an integer. */
    public Optional<Long> integer(String key) throws GgufFormatException {
        Optional<GgufValue> v = get(key);
        if (v.isPresent()) {
            switch (v.get().type()) {
                case UINT8, INT8, UINT16, INT16, UINT32, INT32, UINT64, INT64 -> { }
                default -> throw new GgufFormatException(-1, "metadata '" + key
                        + "' must be an integer but is " + v.get().type());
            }
        }
        return v.map(GgufValue::asLong);
    }

    /** The value of a float- or integer-typed {@code key}. */
    public Optional<Double> number(String key) throws GgufFormatException {
        Optional<GgufValue> v = get(key);
        if (v.isPresent() && (v.get().type() == GgufValueType.STRING || v.get().type() == GgufValueType.BOOL
                || v.get().type() == GgufValueType.ARRAY)) {
            throw new GgufFormatException(-1, "metadata '" + key + "' must be a number but is " + v.get().type());
        }
        return v.map(GgufValue::asDouble);
    }

    /** Tensor infos in file order. */
    public List<GgufTensorInfo> tensors() {
        checkOpen();
        return parsed.tensors();
    }

    public Optional<GgufTensorInfo> tensor(String name) {
        checkOpen();
        return Optional.ofNullable(tensorsByName.get(name));
    }

    /** A zero-copy view of the tensor's bytes; valid until this file is closed. */
    public MemorySegment tensorData(GgufTensorInfo tensor) {
        checkOpen();
        if (tensorsByName.get(tensor.name()) != tensor && !tensor.equals(tensorsByName.get(tensor.name()))) {
            throw new IllegalArgumentException("tensor " + tensor.name() + " is not from " + source);
        }
        return segment.asSlice(parsed.dataOffset() + tensor.offset(), tensor.byteSize());
    }

    public MemorySegment tensorData(String name) {
        return tensorData(tensor(name).orElseThrow(
                () -> new IllegalArgumentException("no tensor '" + name + "' in " + source)));
    }

    /** Closes the mapping. Idempotent. Tensor data segments become inaccessible. */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        if (arena != null) {
            arena.close();
        }
    }

    @Override
    public String toString() {
        return "GgufFile[" + source + (closed ? ", closed]" : ", v" + parsed.version() + ", "
                + parsed.metadata().size() + " keys, " + parsed.tensors().size() + " tensors]");
    }
}
