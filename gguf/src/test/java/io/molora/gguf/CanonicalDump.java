package io.molora.gguf;

import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/** The same canonical lines test resource python/gguf_dump.py prints, from the Java reader. */
final class CanonicalDump {
    private CanonicalDump() {}

    static List<String> of(GgufFile file) throws Exception {
        List<String> lines = new ArrayList<>();
        for (Map.Entry<String, GgufValue> e : file.metadata().entrySet()) {
            lines.add("kv " + e.getKey() + " " + repr(e.getValue()));
        }
        for (GgufTensorInfo t : file.tensors()) {
            byte[] data = file.tensorData(t).toArray(ValueLayout.JAVA_BYTE);
            StringBuilder shape = new StringBuilder();
            for (long d : t.shape()) {
                shape.append(shape.isEmpty() ? "" : ",").append(d);
            }
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(data));
            lines.add("tensor " + t.name() + " " + t.type().id() + " " + shape + " " + data.length + " " + sha);
        }
        return lines;
    }

    static String repr(GgufValue v) {
        return switch (v.type()) {
            case STRING -> "STRING:" + HexFormat.of().formatHex(v.asString().getBytes(StandardCharsets.UTF_8));
            case FLOAT32 -> String.format("FLOAT32:0x%08x", Float.floatToRawIntBits((Float) v.value()));
            case FLOAT64 -> String.format("FLOAT64:0x%016x", Double.doubleToRawLongBits((Double) v.value()));
            case BOOL -> "BOOL:" + v.asBoolean();
            case UINT64 -> "UINT64:" + Long.toUnsignedString(v.asLong());
            case ARRAY -> {
                GgufArray a = v.asArray();
                List<String> items = new ArrayList<>();
                for (int i = 0; i < a.size(); i++) {
                    items.add(repr(element(a, i)));
                }
                yield "ARRAY:" + a.elementType() + ":[" + String.join(",", items) + "]";
            }
            default -> v.type() + ":" + v.asLong();
        };
    }

    static GgufValue element(GgufArray a, int i) {
        Object o = switch (a.elements()) {
            case byte[] b -> b[i];
            case short[] s -> s[i];
            case int[] x -> x[i];
            case long[] l -> l[i];
            case float[] f -> f[i];
            case double[] d -> d[i];
            case boolean[] z -> z[i];
            case List<?> l -> l.get(i);
            default -> throw new IllegalStateException();
        };
        return new GgufValue(a.elementType(), o);
    }
}
