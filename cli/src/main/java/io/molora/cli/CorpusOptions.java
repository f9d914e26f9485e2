package io.molora.cli;

import io.molora.engine.Corpus;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** The corpus of train-router and eval-router: one mixed corpus, or labelled domain corpora. */
final class CorpusOptions {
    @Option(names = "--corpus", paramLabel = "FILE|DIR", description = "Mixed corpus without labels.")
    Path mixed;

    @Option(names = "--domain", paramLabel = "NAME=DIR", description = "Labelled corpus of one adapter (repeatable).")
    List<String> domains = new ArrayList<>();

    @Option(names = "--seq-len", defaultValue = "256", converter = OptionRanges.SequenceLength.class, description = "Tokens per sequence (default: ${DEFAULT-VALUE}).")
    int seqLen;

    /** Exactly one of --corpus and --domain (repeatable), each --domain as NAME=DIR. */
    Corpus corpus(CommandLine cmd) {
        if (domains.isEmpty() == (mixed == null)) {
            throw new ParameterException(cmd, "give either --corpus FILE or --domain NAME=DIR ...");
        }
        if (mixed != null) {
            return new Corpus.Mixed(mixed);
        }
        List<Corpus.Domain> labelled = new ArrayList<>();
        for (String d : domains) {
            int eq = d.indexOf('=');
            if (eq <= 0) {
                throw new ParameterException(cmd, "expected --domain NAME=DIR, got '" + d + "'");
            }
            labelled.add(new Corpus.Domain(d.substring(0, eq), Path.of(d.substring(eq + 1))));
        }
        return new Corpus.Labelled(labelled);
    }
}
