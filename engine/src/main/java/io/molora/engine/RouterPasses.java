package io.molora.engine;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.RouterTraining;
import io.molora.runtime.Model;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * The passes an unlabelled router learns from — every token's log-probability under the base and under each adapter
 * alone ({@link RouterTraining#logProbs}) — kept in molora's cache: the same model file, adapter files and scales, and
 * the same token sequences give the same passes, so a second router trained on the same corpus (another objective,
 * other features, another seed) skips them. The key is the sha256 of all of those; a file whose shape does not match
 * what is asked is not used (and is replaced).
 */
final class RouterPasses {
    private static final int MAGIC = 0x4d4c5250;  // "MLRP"
    private static final int VERSION = 1;

    private RouterPasses() {}

    /** {@code logProbs[c][s][p]} as {@link RouterTraining#logProbs} gives them, from {@code cache} when it has them. */
    static float[][][] logProbs(Optional<Path> cache, Model model, AdapterSet adapters, List<int[]> sequences,
            Consumer<String> log) throws IOException {
        if (cache.isEmpty()) {
            return RouterTraining.logProbs(model, adapters, sequences, log);
        }
        Path file = cache.get().resolve(key(model, adapters, sequences) + ".passes");
        float[][][] kept = read(file, 1 + adapters.size(), sequences);
        if (kept != null) {
            log.accept("passes of base and each adapter: from the cache (" + file + ")");
            return kept;
        }
        float[][][] lp = RouterTraining.logProbs(model, adapters, sequences, log);
        try {
            OutputFile.check(file, OutputFile.CACHE, List.of(), true).write(f -> write(f, lp));
        } catch (RuntimeException e) {
            log.accept("could not keep the passes in the cache: " + e.getMessage());
        }
        return lp;
    }

    private static String key(Model model, AdapterSet adapters, List<int[]> sequences) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        md.update(("molora router passes v" + VERSION + "\n").getBytes());
        md.update(RouterFile.sha256(model.path()).getBytes());
        for (int a = 0; a < adapters.size(); a++) {
            md.update(RouterFile.sha256(adapters.specs().get(a).path()).getBytes());
            md.update(Float.toString(adapters.scales()[a]).getBytes());
        }
        byte[] b = new byte[4];
        for (int[] s : sequences) {
            putInt(md, b, s.length);
            for (int t : s) {
                putInt(md, b, t);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    private static void putInt(MessageDigest md, byte[] b, int v) {
        b[0] = (byte) (v >>> 24);
        b[1] = (byte) (v >>> 16);
        b[2] = (byte) (v >>> 8);
        b[3] = (byte) v;
        md.update(b);
    }

    /** The passes in {@code file}, or null when it is missing, unreadable or of another shape. */
    private static float[][][] read(Path file, int choices, List<int[]> sequences) {
        if (!Files.isRegularFile(file)) {
            return null;
        }
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            if (in.readInt() != MAGIC || in.readInt() != VERSION || in.readInt() != choices
                    || in.readInt() != sequences.size()) {
                return null;
            }
            float[][][] lp = new float[choices][sequences.size()][];
            for (int c = 0; c < choices; c++) {
                for (int s = 0; s < sequences.size(); s++) {
                    int n = in.readInt();
                    if (n != sequences.get(s).length - 1) {
                        return null;
                    }
                    float[] row = new float[n];
                    for (int p = 0; p < n; p++) {
                        row[p] = in.readFloat();
                    }
                    lp[c][s] = row;
                }
            }
            return in.read() == -1 ? lp : null;
        } catch (IOException e) {
            return null;
        }
    }

    private static void write(Path file, float[][][] lp) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16))) {
            out.writeInt(MAGIC);
            out.writeInt(VERSION);
            out.writeInt(lp.length);
            out.writeInt(lp[0].length);
            for (float[][] choice : lp) {
                for (float[] row : choice) {
                    out.writeInt(row.length);
                    for (float v : row) {
                        out.writeFloat(v);
                    }
                }
            }
        }
    }
}
