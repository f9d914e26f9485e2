package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.gate.HiddenStates;
import io.molora.adapters.gate.LearnedRouter;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.adapters.routers.SoftTopK;
import io.molora.runtime.Model;
import io.molora.runtime.Router;
import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/** Corpora for train-router / eval-router, and loading a learned router for generation. */
final class RouterCorpus {
    private RouterCorpus() {}

    /** Token sequences of a text file or of every file under a directory (sorted), cut into chunks of len tokens. */
    static List<int[]> sequences(Tokenizer tok, Path source, int len) throws IOException {
        List<Path> files = new ArrayList<>();
        if (Files.isDirectory(source)) {
            try (Stream<Path> s = Files.walk(source)) {
                s.filter(Files::isRegularFile).sorted().forEach(files::add);
            }
        } else if (Files.isRegularFile(source)) {
            files.add(source);
        } else {
            throw new IOException("corpus " + source + " is neither a file nor a directory");
        }
        List<int[]> out = new ArrayList<>();
        for (Path f : files) {
            int[] t = tok.tokenize(Files.readString(f, StandardCharsets.UTF_8), true, false);
            for (int from = 0; from + 1 < t.length; from += len) {
                int to = Math.min(t.length, from + len);
                if (to - from >= 2) {
                    out.add(java.util.Arrays.copyOfRange(t, from, to));
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException("corpus " + source + " has no text");
        }
        return out;
    }
}
