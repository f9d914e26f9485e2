package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
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
