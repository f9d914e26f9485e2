package io.molora.adapters.gate;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.TensorEncoding;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * The base model's input embedding rows ({@code token_embd.weight}), read from the GGUF file with the pure-Java
 * reader (mmap) and dequantised on demand (F32, F16, Q8_0): the gate's token features, with no forward pass.
 */
public final class TokenEmbeddings implements AutoCloseable {
    public static final String TENSOR = "token_embd.weight";
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfShort F16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private final GgufFile file;
    private final MemorySegment data;
    private final GgmlType type;
    private final int dim;
    private final int vocab;

    private TokenEmbeddings(GgufFile file) {
        this.file = file;
        GgufTensorInfo t = file.tensor(TENSOR).orElseThrow(() ->
                new IllegalArgumentException(file.source() + " has no " + TENSOR + " tensor"));
        if (t.type() != GgmlType.F32 && t.type() != GgmlType.F16 && t.type() != GgmlType.Q8_0) {
            throw new IllegalArgumentException(TENSOR + " is " + t.type() + "; the gate reads F32, F16 and Q8_0 only");
        }
        this.type = t.type();
        this.dim = (int) t.dim(0);
        this.vocab = (int) t.dim(1);
        this.data = file.tensorData(t);
    }

    public static TokenEmbeddings open(Path model) throws IOException {
        GgufFile f = GgufFile.open(model);
        try {
            return new TokenEmbeddings(f);
        } catch (RuntimeException e) {
            f.close();
            throw e;
        }
    }

    public int dim() {
        return dim;
    }

    public int vocabSize() {
        return vocab;
    }

    /** Row {@code token} into {@code out[offset .. offset + dim)}. */
    public void row(int token, float[] out, int offset) {
        if (token < 0 || token >= vocab) {
            throw new IllegalArgumentException("token " + token + " outside [0, " + vocab + ")");
        }
        long base = (long) token * dim;
        switch (type) {
            case F32 -> {
                for (int i = 0; i < dim; i++) {
                    out[offset + i] = data.get(F32, (base + i) * 4);
                }
            }
            case F16 -> {
                for (int i = 0; i < dim; i++) {
                    out[offset + i] = Float.float16ToFloat(data.get(F16, (base + i) * 2));
                }
            }
            default -> {
                for (int i = 0; i < dim; i++) {
                    out[offset + i] = TensorEncoding.decode(type, data, base + i);
                }
            }
        }
    }

    /** sha256 of the embedding tensor's bytes: identifies the base model the gate's features come from. */
    public String sha256() {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(data.asByteBuffer());
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The model's {@code general.name}, or "" when it has none. */
    public String modelName() {
        try {
            return file.string("general.name").orElse("");
        } catch (Exception e) {
            return "";
        }
    }

    @Override
    public void close() {
        file.close();
    }
}
