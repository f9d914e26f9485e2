package io.molora.adapters.peft;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.List;
import java.util.Map;

/**
 * A safetensors file, read in Java: an 8-byte little-endian header length N, N bytes of JSON
 * ({@code {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {...}}}), then the
 * raw little-endian data, offsets relative to its start. The header is checked as the safetensors library's
 * {@code Metadata::validate} does (huggingface/safetensors, safetensors/src/tensor.rs): at most 100,000,000 bytes,
 * every tensor's byte length = elements x dtype size, the tensors laid end to end from offset 0 with no hole and no
 * overlap, the last ending where the file does. Only the float types a LoRA is saved in are read: F32, F16, BF16.
 */
public final class Safetensors {
    /** The safetensors library's limit on the JSON header (safetensors/src/tensor.rs, MAX_HEADER_SIZE). */
    public static final long MAX_HEADER = 100_000_000L;

    /** The element types read, with their sizes. */
    public enum DType {
        F32(4), F16(2), BF16(2);

        final int size;

        DType(int size) {
            this.size = size;
        }
    }

    /**
     * One tensor of the file: its name, type, shape in PyTorch order (outermost first) and where its bytes lie,
     * relative to the start of the data.
     */
    public record Tensor(String name, DType dtype, long[] shape, long begin, long end) {
        public Tensor {
            shape = shape.clone();
        }

        @Override
        public long[] shape() {
            return shape.clone();
        }

        public long elements() {
            long n = 1;
            for (long d : shape) {
                n *= d;
            }
            return n;
        }

        @Override
        public String toString() {
            return name + " " + dtype + Arrays.toString(shape);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();

    private final Path path;
    private final long dataStart;
    private final List<Tensor> tensors;

    private Safetensors(Path path, long dataStart, List<Tensor> tensors) {
        this.path = path;
        this.dataStart = dataStart;
        this.tensors = List.copyOf(tensors);
    }

    /**
     * Reads and checks the header of {@code path}.
     *
     * @throws PeftException naming the file and what is wrong, in one line
     * @throws IOException when the file cannot be read
     */
    public static Safetensors open(Path path) throws IOException {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) {
                throw bad(path, "shorter than the 8-byte header length (" + size + " bytes)");
            }
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, len, 0);
            long n = len.flip().getLong();
            if (n < 2 || n > MAX_HEADER || n > size - 8) {
                throw bad(path, "header length " + Long.toUnsignedString(n) + " does not fit the file (" + size
                        + " bytes; at most " + MAX_HEADER + ")");
            }
            ByteBuffer header = ByteBuffer.allocate((int) n);
            readFully(ch, header, 8);
            JsonNode root;
            try {
                root = JSON.readTree(new String(header.array(), StandardCharsets.UTF_8));
            } catch (JsonProcessingException e) {
                throw bad(path, "header is not JSON (" + e.getOriginalMessage() + ")");
            }
            if (root == null || !root.isObject()) {
                throw bad(path, "header is not a JSON object");
            }
            List<Tensor> tensors = new ArrayList<>();
            for (Iterator<Map.Entry<String, JsonNode>> it = root.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> e = it.next();
                if (!e.getKey().equals("__metadata__")) {
                    tensors.add(tensor(path, e.getKey(), e.getValue()));
                }
            }
            // Metadata::validate: sorted by offset, each tensor starts where the previous ended, the last ends at the
            // end of the file
            List<Tensor> byOffset = new ArrayList<>(tensors);
            byOffset.sort(Comparator.comparingLong(Tensor::begin).thenComparingLong(Tensor::end));
            long at = 0;
            for (Tensor t : byOffset) {
                if (t.begin() != at) {
                    throw bad(path, "tensor " + t.name() + " starts at data offset " + t.begin() + ", not " + at
                            + " (a hole or an overlap in the data)");
                }
                at = t.end();
            }
            long dataLength = size - 8 - n;
            if (at != dataLength) {
                throw bad(path, "the tensors cover " + at + " bytes of data, the file holds " + dataLength
                        + " (truncated or padded)");
            }
            // PyTorch's safe_open(...).keys(), which load_file iterates, are sorted by name
            tensors.sort(Comparator.comparing(Tensor::name));
            return new Safetensors(path, 8 + n, tensors);
        }
    }

    private static Tensor tensor(Path path, String name, JsonNode node) {
        if (!node.isObject()) {
            throw bad(path, "tensor " + name + ": not an object in the header");
        }
        JsonNode dtype = node.get("dtype");
        JsonNode shape = node.get("shape");
        JsonNode offsets = node.get("data_offsets");
        if (dtype == null || !dtype.isTextual() || shape == null || !shape.isArray() || offsets == null
                || !offsets.isArray() || offsets.size() != 2) {
            throw bad(path, "tensor " + name + ": needs \"dtype\", \"shape\" and \"data_offsets\" [begin, end]");
        }
        DType type;
        try {
            type = DType.valueOf(dtype.asText());
        } catch (IllegalArgumentException e) {
            throw bad(path, "tensor " + name + " is " + dtype.asText() + "; a LoRA's tensors are read as F32, F16 or BF16");
        }
        long[] dims = new long[shape.size()];
        long elements = 1;
        for (int i = 0; i < dims.length; i++) {
            JsonNode d = shape.get(i);
            if (!d.canConvertToLong() || !d.isIntegralNumber() || d.asLong() < 0) {
                throw bad(path, "tensor " + name + ": shape " + shape + " is not a list of sizes");
            }
            dims[i] = d.asLong();
            elements = Math.multiplyHigh(elements, dims[i]) != 0 ? -1 : elements * dims[i];
            if (elements < 0) {
                throw bad(path, "tensor " + name + ": shape " + shape + " is too large");
            }
        }
        JsonNode b = offsets.get(0);
        JsonNode e = offsets.get(1);
        if (!b.isIntegralNumber() || !e.isIntegralNumber() || !b.canConvertToLong() || !e.canConvertToLong()
                || b.asLong() < 0 || e.asLong() < b.asLong()) {
            throw bad(path, "tensor " + name + ": data_offsets " + offsets + " are not [begin, end] with begin <= end");
        }
        if (elements > Long.MAX_VALUE / type.size || e.asLong() - b.asLong() != elements * type.size) {
            throw bad(path, "tensor " + name + ": data_offsets " + offsets + " hold " + (e.asLong() - b.asLong())
                    + " bytes, its shape " + shape + " of " + type + " needs " + elements * type.size);
        }
        return new Tensor(name, type, dims, b.asLong(), e.asLong());
    }

    public Path path() {
        return path;
    }

    /** The tensors, sorted by name (the order convert_lora_to_gguf.py sees them in). */
    public List<Tensor> tensors() {
        return tensors;
    }

    /** A tensor's values as floats: F32 as stored, F16 and BF16 widened exactly (as PyTorch's {@code .float()}). */
    public float[] floats(Tensor t) throws IOException {
        if (t.elements() > Integer.MAX_VALUE - 8) {
            throw bad(path, "tensor " + t.name() + " has " + t.elements() + " elements, too many to convert");
        }
        ByteBuffer bytes = ByteBuffer.allocate((int) (t.end() - t.begin())).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            readFully(ch, bytes, dataStart + t.begin());
        }
        bytes.flip();
        float[] out = new float[(int) t.elements()];
        switch (t.dtype()) {
            case F32 -> bytes.asFloatBuffer().get(out);
            case F16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.float16ToFloat(bytes.getShort());
                }
            }
            case BF16 -> {
                for (int i = 0; i < out.length; i++) {
                    out[i] = Float.intBitsToFloat((bytes.getShort() & 0xffff) << 16);
                }
            }
        }
        return out;
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long position) throws IOException {
        long at = position;
        while (buf.hasRemaining()) {
            int n = ch.read(buf, at);
            if (n < 0) {
                throw new IOException("unexpected end of file");
            }
            at += n;
        }
    }

    private static PeftException bad(Path path, String what) {
        return new PeftException(path + " is not a valid safetensors file: " + what);
    }
}
