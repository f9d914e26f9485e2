package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every out-of-range option value is a bad command line: exit 2, the option named, nothing loaded or generated. */
class OptionRangesTest {
    @TempDir
    static Path dir;
    private static Path model;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
    }

    @Test
    void outOfRangeValuesExitTwoNamingTheOption() {
        int tooMany = Runtime.getRuntime().availableProcessors() + 1;
        List<List<String>> bad = List.of(List.of("-c", "-5", "--ctx-size"), List.of("-t", "-3", "--threads"),
                List.of("-t", "16384", "--threads"), List.of("-t", Integer.toString(tooMany), "--threads"),
                List.of("-b", "0", "--batch-size"), List.of("-ub", "0", "--ubatch-size"),
                List.of("--top-p", "2", "--top-p"), List.of("--min-p", "5", "--min-p"),
                List.of("--top-k", "-5", "--top-k"), List.of("-ngl", "-7", "--n-gpu-layers"),
                List.of("--temp", "NaN", "--temp"), List.of("--temp", "-1", "--temp"),
                List.of("--temp", "Infinity", "--temp"), List.of("-fa", "maybe", "--flash-attn"),
                List.of("-ctk", "q3_k", "--cache-type-k"), List.of("--lora-routing-form", "sideways", "--lora-routing-form"));
        for (List<String> b : bad) {
            for (String command : List.of("generate", "chat", "complete")) {
                CliTest.Run r = CliTest.run(command, "-m", model.toString(), "-p", "hi", b.get(0), b.get(1));
                assertEquals(2, r.exit(), command + " " + b + ": " + r.err());
                assertTrue(r.err().contains("'" + b.get(2) + "'"), command + " " + b + ": " + r.err());
                assertEquals("", r.out(), command + " " + b + " printed to stdout");
            }
        }
        // the batch commands' own options, the server's limits
        List<List<String>> batch = List.of(List.of("complete", "--parallel", "0", "--parallel"),
                List.of("complete", "-n", "-2", "--n-predict"), List.of("serve", "--parallel", "257", "--parallel"),
                List.of("serve", "--port", "70000", "--port"), List.of("serve", "-n", "-2", "--n-predict"),
                List.of("serve", "--max-queue", "-1", "--max-queue"), List.of("serve", "--max-body-size", "0", "--max-body-size"),
                List.of("serve", "--timeout", "0", "--timeout"), List.of("serve", "--shutdown-timeout", "-1", "--shutdown-timeout"),
                List.of("serve", "--read-timeout", "0", "--read-timeout"));
        for (List<String> b : batch) {
            CliTest.Run r = CliTest.run(b.get(0), "-m", model.toString(), b.get(1), b.get(2));
            assertEquals(2, r.exit(), b + ": " + r.err());
            assertTrue(r.err().contains("'" + b.get(3) + "'"), b + ": " + r.err());
        }
        assertEquals(2, CliTest.run("bench", "-t", "16384").exit());
        assertEquals(2, CliTest.run("bench", "--lora-routing-form", "sideways").exit());
    }

    /**
     * Issue 26: options that had no range — the router trainer's sizes (--hidden 4000000 ran out of memory after a
     * minute, 100000000 overflowed an int), --seq-len 0 (a loop that never advanced), token limits of the commands
     * that stream, buffer sizes far past what llama.cpp can allocate, the benchmark's counts. Each is now refused on
     * the command line, naming the option, before any file is read.
     */
    @Test
    void everyNumericOptionHasARange() {
        String m = model.toString();
        List<String> router = List.of("-m", m, "--lora", "a=" + dir.resolve("no-such-adapter.gguf"), "--corpus",
                dir.resolve("no-such-corpus.txt").toString());
        List<List<String>> bad = List.of(
                List.of("train-router", "--hidden", "4000000", "--hidden"),
                List.of("train-router", "--hidden", "100000000", "--hidden"),
                List.of("train-router", "--hidden", "-1", "--hidden"),
                List.of("train-router", "--epochs", "0", "--epochs"),
                List.of("train-router", "--lr", "0", "--lr"),
                List.of("train-router", "--lr", "NaN", "--lr"),
                List.of("train-router", "--seq-len", "0", "--seq-len"),
                List.of("train-router", "--seq-len", "1", "--seq-len"),
                List.of("eval-router", "--seq-len", "0", "--seq-len"),
                List.of("eval-router", "--seq-len", "-3", "--seq-len"));
        for (List<String> b : bad) {
            List<String> args = new ArrayList<>(List.of(b.get(0)));
            args.addAll(router);
            // what each needs besides: the router file to write, or to evaluate
            args.addAll(List.of(b.get(0).equals("train-router") ? "-o" : "--router", dir.resolve("r.gguf").toString()));
            args.addAll(List.of(b.get(1), b.get(2)));
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            assertEquals(2, r.exit(), b + ": " + r.err());
            assertTrue(r.err().contains("Invalid value for option '" + b.get(3) + "'"), b + ": " + r.err());
            assertFalse(r.err().contains("no-such"), b + ": refused before any file is looked at: " + r.err());
        }
        List<List<String>> more = List.of(
                List.of("generate", "-p", "hi", "-n", "-2", "--n-predict"),
                List.of("chat", "-n", "-2", "--n-predict"),
                List.of("demo", "-n", "-2", "--n-predict"),
                List.of("complete", "--progress-interval", "-1", "--progress-interval"),
                List.of("complete", "--progress-interval", "NaN", "--progress-interval"),
                List.of("generate", "-p", "hi", "-c", "100000000", "--ctx-size"),
                List.of("generate", "-p", "hi", "-b", "2000000000", "--batch-size"),
                List.of("generate", "-p", "hi", "-ub", "2000000000", "--ubatch-size"),
                List.of("perplexity", "-f", "x.txt", "-c", "100000000", "--ctx-size"));
        for (List<String> b : more) {
            List<String> args = new ArrayList<>(b.subList(0, b.size() - 1));
            args.addAll(1, List.of("-m", m));
            CliTest.Run r = CliTest.run(args.toArray(String[]::new));
            assertEquals(2, r.exit(), b + ": " + r.err());
            assertTrue(r.err().contains("Invalid value for option '" + b.get(b.size() - 1) + "'"), b + ": " + r.err());
        }
        for (List<String> b : List.of(List.of("--rank", "0"), List.of("--rank", "100000"), List.of("--adapters", "1000"),
                List.of("--gen", "0"), List.of("--prefill", "10000000"), List.of("--repeat", "0"),
                List.of("--parallel", "100000"))) {
            CliTest.Run r = CliTest.run("bench", b.get(0), b.get(1));
            assertEquals(2, r.exit(), b + ": " + r.err());
            assertTrue(r.err().contains("Invalid value for option '" + b.get(0) + "'"), b + ": " + r.err());
        }
    }

    @Test
    void aBadValueInTheConfigFileNamesTheFileAndTheKey() throws IOException {
        Path config = Files.writeString(dir.resolve("bad.properties"), "chat.top-p=1.5\n");
        System.setProperty("molora.config", config.toString());
        try {
            CliTest.Run r = CliTest.run("chat", "-m", model.toString());
            assertEquals(2, r.exit(), r.err());
            assertTrue(r.err().contains("config file " + config) && r.err().contains("chat.top-p=1.5")
                    && r.err().contains("between 0 and 1"), r.err());
        } finally {
            System.clearProperty("molora.config");
        }
    }

    @Test
    void valuesAtTheEdgesAreAccepted() {
        CliTest.Run r = CliTest.run("generate", "-m", model.toString(), "-p", "hi", "-n", "2", "--temp", "0",
                "--top-p", "1", "--min-p", "0", "--top-k", "0", "-t", Integer.toString(
                        Runtime.getRuntime().availableProcessors()), "-c", "0", "-ngl", "-1");
        assertEquals(0, r.exit(), r.err());
    }
}
