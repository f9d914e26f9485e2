package io.molora.adapters.gate;

import io.molora.adapters.AdapterSpec;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
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
        GgufWriter w = new GgufWriter();
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

    /** A loaded router file: the gate and what it was trained with. */
    public record Loaded(Gate gate, Identity identity) {}

    /** Reads a router file without identity checks (inspection). */
    public static Loaded read(Path path) throws IOException {
        try (GgufFile f = GgufFile.open(path)) {
            String type = f.string("general.type").orElse("");
            if (!type.equals("router")) {
                throw new LlamaException(path + " is not a molora router file (general.type is '" + type + "')");
            }
            int inputs = (int) (long) f.integer("router.inputs").orElseThrow();
            int hidden = (int) (long) f.integer("router.hidden").orElseThrow();
            int outputs = (int) (long) f.integer("router.outputs").orElseThrow();
            Identity id = new Identity(f.get("router.adapters").orElseThrow().asArray().strings(),
                    f.get("router.adapter_sha256").orElseThrow().asArray().strings(),
                    f.string("router.base.name").orElse(""), f.string("router.base.token_embd_sha256").orElseThrow(),
                    f.string("router.features").orElseThrow());
            Gate g = new Gate(inputs, hidden, outputs, floats(f, "router.mean"), floats(f, "router.inv_std"),
                    floats(f, "router.w1"), floats(f, "router.b1"),
                    hidden == 0 ? new float[0] : floats(f, "router.w2"),
                    hidden == 0 ? new float[0] : floats(f, "router.b2"));
            return new Loaded(g, id);
        } catch (java.util.NoSuchElementException e) {
            throw new LlamaException(path + " is a router file with missing fields", e);
        }
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
            throw new LlamaException("router " + path.getFileName() + " was trained for adapters " + id.adapters()
                    + " (in that order), not " + names);
        }
        for (int i = 0; i < adapters.size(); i++) {
            String sha = sha256(adapters.get(i).path());
            if (!sha.equals(id.adapterSha256().get(i))) {
                throw new LlamaException("adapter '" + names.get(i) + "' (" + adapters.get(i).path()
                        + ") is not the file router " + path.getFileName() + " was trained with (sha256 "
                        + sha.substring(0, 12) + "…, expected " + id.adapterSha256().get(i).substring(0, 12) + "…)");
            }
        }
        if (!base.sha256().equals(id.baseSha256())) {
            throw new LlamaException("router " + path.getFileName() + " was trained on base model '" + id.baseName()
                    + "', not on '" + base.modelName() + "' (token embeddings differ)");
        }
        if (!List.of(FEATURES_TOKEN, FEATURES_TOKEN_HIDDEN, FEATURES_REQUEST).contains(id.features())) {
            throw new LlamaException("router " + path.getFileName() + " uses features '" + id.features()
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
