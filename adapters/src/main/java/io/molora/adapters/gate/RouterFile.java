package io.molora.adapters.gate;

import io.molora.adapters.AdapterSpec;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.TensorEncoding;
import io.molora.gguf.TensorSources;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;

/**
 * A trained gate saved as GGUF ({@code general.type = router}): the adapter names and the sha256 of each adapter
 * file, the base model's identity (name and sha256 of its token embeddings, the gate's features), the feature spec
 * and the weights. Loading it with other adapters or another base model is refused with a message saying which.
 */
public final class RouterFile {
    public static final String FEATURES_TOKEN = "token_embd";
    /** Token embedding followed by the previous position's final hidden state (MoLoRA's gate input). */
    public static final String FEATURES_TOKEN_HIDDEN = "token_embd+hidden";
    /** One choice per request: the mean of the final hidden states over the prompt ({@link RequestRouter}). */
    public static final String FEATURES_REQUEST = "request:hidden_mean";

    private RouterFile() {}

    /** What a router file was trained with. */
    public record Identity(List<String> adapters, List<String> adapterSha256, String baseName, String baseSha256,
            String features) {}

    public static void save(Path path, Gate g, Identity id) throws IOException {
        save(path, g, id, 0f);
    }

    /**
     * As {@link #save(Path, Gate, Identity)}, with the switch bonus its routes are decided with
     * ({@link LearnedRouter}; written only when above 0, so files without it read as before).
     */
    public static void save(Path path, Gate g, Identity id, float switchBonus) throws IOException {
        if (!(switchBonus >= 0) || !Float.isFinite(switchBonus)) {
            throw new IllegalArgumentException("switch bonus must be a finite number >= 0, got " + switchBonus);
        }
        GgufWriter w = new GgufWriter();
        if (switchBonus > 0) {
            w.put("router.switch_bonus", GgufValue.of(switchBonus));
        }
        w.put("general.type", "router");
        w.put("general.architecture", "molora-router");
        w.put("router.adapters", GgufValue.of(GgufArray.ofStrings(id.adapters())));
        w.put("router.adapter_sha256", GgufValue.of(GgufArray.ofStrings(id.adapterSha256())));
        w.put("router.base.name", id.baseName());
        w.put("router.base.token_embd_sha256", id.baseSha256());
        w.put("router.features", id.features());
        w.put("router.inputs", GgufValue.ofUint32(g.inputs));
        w.put("router.hidden", GgufValue.ofUint32(g.hidden));
        w.put("router.outputs", GgufValue.ofUint32(g.outputs));
        int first = g.hidden == 0 ? g.outputs : g.hidden;
        add(w, "router.mean", g.mean, g.inputs);
        add(w, "router.inv_std", g.invStd, g.inputs);
        add(w, "router.w1", g.w1, g.inputs);
        add(w, "router.b1", g.b1, first);
        if (g.hidden > 0) {
            add(w, "router.w2", g.w2, g.hidden);
            add(w, "router.b2", g.b2, g.outputs);
        }
        w.write(path);
    }

    private static void add(GgufWriter w, String name, float[] v, int rowLength) {
        w.addTensor(name, GgmlType.F32, new long[] {rowLength, v.length / rowLength},
                TensorSources.ofFloats(GgmlType.F32, rowLength, v));
    }

    /** A loaded router file: the gate, what it was trained with, and the switch bonus it routes with (0: none). */
    public record Loaded(Gate gate, Identity identity, float switchBonus) {}

    /**
     * Reads a router file without identity checks (inspection). Every field is checked before the gate is built: a
     * missing or mistyped field, a tensor of the wrong size or type, or a weight that is NaN or infinite (it would
     * make the gate's scores NaN at the first token) is refused with the file and the field named.
     */
    public static Loaded read(Path path) throws IOException {
        try (GgufFile f = GgufFile.open(path)) {
            String type = f.string("general.type").orElse("");
            if (!type.equals("router")) {
                throw new LlamaException(path + " is not a molora router file (general.type is '" + type + "')");
            }
            int inputs = size(f, path, "router.inputs", 1);
            int hidden = size(f, path, "router.hidden", 0);
            int outputs = size(f, path, "router.outputs", 2);
            List<String> adapters = strings(f, path, "router.adapters");
            List<String> shas = strings(f, path, "router.adapter_sha256");
            if (adapters.size() != outputs - 1 || shas.size() != adapters.size()) {
                throw new LlamaException("router " + path + ": router.adapters names " + adapters.size()
                        + " adapters and router.adapter_sha256 has " + shas.size() + " hashes, but router.outputs is "
                        + outputs + " (one more than the adapters)");
            }
            Identity id = new Identity(adapters, shas, f.string("router.base.name").orElse(""),
                    string(f, path, "router.base.token_embd_sha256"), string(f, path, "router.features"));
            int first = hidden == 0 ? outputs : hidden;
            Gate g = new Gate(inputs, hidden, outputs, floats(f, path, "router.mean", inputs),
                    floats(f, path, "router.inv_std", inputs),
                    floats(f, path, "router.w1", (long) first * inputs), floats(f, path, "router.b1", first),
                    hidden == 0 ? new float[0] : floats(f, path, "router.w2", (long) outputs * hidden),
                    hidden == 0 ? new float[0] : floats(f, path, "router.b2", outputs));
            double bonus = f.number("router.switch_bonus").orElse(0.0);
            if (!(bonus >= 0) || bonus > 1e3) {
                throw new LlamaException("router " + path + ": router.switch_bonus = " + bonus + ", must be 0 to 1000");
            }
            return new Loaded(g, id, (float) bonus);
        } catch (GgufFormatException e) {
            throw new LlamaException("router " + path + ": " + e.getMessage(), e);
        }
    }

    /** The largest gate dimension a router file may declare (inputs, hidden units, outputs). */
    static final int MAX_SIZE = 1 << 20;

    private static int size(GgufFile f, Path path, String key, int min) throws GgufFormatException {
        long v = f.integer(key).orElseThrow(() -> missing(path, key, "an integer"));
        if (v < min || v > MAX_SIZE) {
            throw new LlamaException("router " + path + ": " + key + " = " + v + ", must be " + min + " to " + MAX_SIZE);
        }
        return (int) v;
    }

    private static String string(GgufFile f, Path path, String key) throws GgufFormatException {
        return f.string(key).orElseThrow(() -> missing(path, key, "a string"));
    }

    private static List<String> strings(GgufFile f, Path path, String key) {
        GgufValue v = f.get(key).orElseThrow(() -> missing(path, key, "an array of strings"));
        try {
            return v.asArray().strings();
        } catch (RuntimeException e) {
            throw new LlamaException("router " + path + ": " + key + " must be an array of strings");
        }
    }

    private static LlamaException missing(Path path, String key, String what) {
        return new LlamaException("router " + path + " has no " + key + " (" + what + "); is it a router file "
                + "molora wrote?");
    }

    /** An F32 tensor of exactly {@code count} finite values. */
    private static float[] floats(GgufFile f, Path path, String name, long count) {
        GgufTensorInfo t = f.tensor(name).orElseThrow(() -> missing(path, name, "an F32 tensor"));
        if (t.type() != GgmlType.F32) {
            throw new LlamaException("router " + path + ": tensor " + name + " is " + t.type() + ", must be F32");
        }
        if (t.elementCount() != count) {
            throw new LlamaException("router " + path + ": tensor " + name + " has " + t.elementCount()
                    + " values, the gate's sizes need " + count);
        }
        MemorySegment d = f.tensorData(t);
        float[] v = new float[(int) count];
        for (int i = 0; i < v.length; i++) {
            v[i] = TensorEncoding.decode(t.type(), d, i);
            if (!Float.isFinite(v[i])) {
                throw new LlamaException("router " + path + ": tensor " + name + " has a non-finite value (" + v[i]
                        + ") at index " + i + "; the file is damaged or its training diverged");
            }
        }
        return v;
    }

    /**
     * Reads a router file and checks it was trained for exactly these adapters (names in order, file contents by
     * sha256) and this base model (token-embedding sha256).
     */
    public static Gate load(Path path, List<AdapterSpec> adapters, TokenEmbeddings base) throws IOException {
        Loaded l = read(path);
        Identity id = l.identity();
        List<String> names = adapters.stream().map(AdapterSpec::name).toList();
        if (!names.equals(id.adapters())) {
            throw new LlamaException("router " + path + " was trained for adapters " + id.adapters()
                    + " (in that order), not " + names);
        }
        for (int i = 0; i < adapters.size(); i++) {
            String sha = sha256(adapters.get(i).path());
            if (!sha.equals(id.adapterSha256().get(i))) {
                throw new LlamaException("adapter '" + names.get(i) + "' (" + adapters.get(i).path()
                        + ") is not the file router " + path + " was trained with (sha256 "
                        + sha.substring(0, 12) + "…, expected " + id.adapterSha256().get(i).substring(0, 12) + "…)");
            }
        }
        if (!base.sha256().equals(id.baseSha256())) {
            String which = id.baseName().equals(base.modelName()) ? " (both are named '" + id.baseName() + "')"
                    : ": it was trained on '" + id.baseName() + "', this is '" + base.modelName() + "'";
            throw new LlamaException("router " + path + " was trained on a base model with other token embeddings "
                    + "than this one" + which);
        }
        if (!List.of(FEATURES_TOKEN, FEATURES_TOKEN_HIDDEN, FEATURES_REQUEST).contains(id.features())) {
            throw new LlamaException("router " + path + " uses features '" + id.features()
                    + "', which this build does not compute");
        }
        return l.gate();
    }

    private static float[] floats(GgufFile f, String name) {
        GgufTensorInfo t = f.tensor(name).orElseThrow();
        MemorySegment d = f.tensorData(t);
        float[] v = new float[(int) t.elementCount()];
        for (int i = 0; i < v.length; i++) {
            v[i] = TensorEncoding.decode(t.type(), d, i);
        }
        return v;
    }

    /** The identity of a training run: these adapters on this base. */
    public static Identity identity(List<AdapterSpec> adapters, TokenEmbeddings base) throws IOException {
        return identity(adapters, base, FEATURES_TOKEN);
    }

    public static Identity identity(List<AdapterSpec> adapters, TokenEmbeddings base, String features)
            throws IOException {
        List<String> shas = new ArrayList<>();
        for (AdapterSpec a : adapters) {
            shas.add(sha256(a.path()));
        }
        return new Identity(adapters.stream().map(AdapterSpec::name).toList(), shas, base.modelName(), base.sha256(),
                features);
    }

    public static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            in.transferTo(java.io.OutputStream.nullOutputStream());
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
