package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.molora.runtime.testing.NativeTestSupport;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Defaults from the config file, and the shell completion script. */
class ConfigAndCompletionTest {
    @TempDir
    Path dir;

    @Test
    void configFileSuppliesDefaultsTheCommandLineOverrides() throws Exception {
        Path model = NativeTestSupport.writeTinyModel(dir, 5);
        Path config = Files.writeString(dir.resolve("config.properties"),
                "model=" + model + "\ncomplete.n-predict=3\ntemp=0\nparallel=2\n");
        Path in = Files.write(dir.resolve("p.txt"), java.util.List.of("Once upon a time", "Hello"));
        System.setProperty("molora.config", config.toString());
        try {
            Path out = dir.resolve("out.jsonl");
            CliTest.Run r = CliTest.run("complete", "--lines", "-o", out.toString(), in.toString());
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.err().contains("--parallel 2"), r.err());
            for (JsonNode rec : CompleteCommandTest.records(out)) {
                assertTrue(rec.get("usage").get("completion_tokens").asInt() <= 3, rec.toString());
            }
            Path out2 = dir.resolve("out2.jsonl");
            CliTest.Run r2 = CliTest.run("complete", "--lines", "-n", "5", "--parallel", "1", "-o", out2.toString(),
                    in.toString());
            assertEquals(0, r2.exit(), r2.err());
            assertTrue(r2.err().contains("--parallel 1"), r2.err());
        } finally {
            System.clearProperty("molora.config");
        }
    }

    @Test
    void completionScriptCoversTheCommands() {
        CliTest.Run r = CliTest.run("generate-completion");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().contains("complete") && r.out().contains("chat") && r.out().contains("--parallel"),
                r.out().substring(0, Math.min(500, r.out().length())));
    }
}
