package io.molora.engine;

import io.molora.runtime.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.stream.Stream;

/** The text a router is trained or evaluated on: one mixed corpus, or corpora labelled with the adapter they suit. */
public sealed interface Corpus {
    /** The files and directories the corpus is read from (the inputs an output must not be). */
    default List<Path> sources() {
        return switch (this) {
            case Mixed m -> List.of(m.source());
            case Labelled l -> l.domains().stream().map(Domain::source).toList();
        };
    }

    /** Text without labels: each token's target is the choice that best predicts the next token. */
    record Mixed(Path source) implements Corpus {
        public Mixed {
            Objects.requireNonNull(source, "source");
        }
    }

    /** Text by domain: every token of a domain's files is labelled with its adapter ("none": the base model). */
    record Labelled(List<Domain> domains) implements Corpus {
        public Labelled {
            domains = List.copyOf(domains);
            if (domains.isEmpty()) {
                throw new IllegalArgumentException("a labelled corpus needs at least one domain");
            }
        }
    }

    record Domain(String adapter, Path source) {
        public Domain {
            Objects.requireNonNull(adapter, "adapter");
            Objects.requireNonNull(source, "source");
        }
    }

    /** Token sequences of a text file or of every file under a directory (sorted), cut into chunks of len tokens. */
    static List<int[]> sequences(Tokenizer tok, Path source, int len) throws IOException {
        if (len < 2) {
            // a chunk is a token and the one it predicts: with fewer there is nothing to learn, and 0 never advances
            throw new IllegalArgumentException("sequences of " + len + " tokens: give 2 or more (--seq-len)");
        }
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
            int[] t = tok.tokenize(TextFiles.read(f), true, false);
            for (int from = 0; from + 1 < t.length; from += len) {
                int to = Math.min(t.length, from + len);
                if (to - from >= 2) {
                    out.add(Arrays.copyOfRange(t, from, to));
                }
            }
        }
        if (out.isEmpty()) {
            throw new IOException("corpus " + source + " has no text");
        }
        return out;
    }
}
