package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --lora NAME=DIR} and {@code --lora-scaled NAME=DIR:S} as a user types them, in a child JVM with its own
 * molora cache: the same output as with convert_lora_to_gguf.py's GGUF of the directory, in generate and perplexity;
 * a directory that cannot be converted is exit 1 with one line.
 */
class PeftDirectoryCliTest {
    @TempDir
    Path dir;

    static Path fixture(String arch) {
        return Path.of(System.getProperty("molora.repo.root", "."), "adapters", "src", "test", "resources", "peft", arch);
    }

    private ChildCli.Result run(String name, String... args) throws Exception {
        return ChildCli.runWithEnv(dir.resolve(name), Map.of("MOLORA_CACHE", dir.resolve("cache").toString()), args);
    }

    @Test
    void aPeftDirectoryWorksAsItsConvertedGgufInEveryCommand() throws Exception {
        Path f = fixture("llama");
        String base = f.resolve("base.gguf").toString();
        String[] gen = {"generate", "-m", base, "-p", "The adapter routes", "-n", "8", "--temp", "0", "-t", "1"};
        ChildCli.Result viaDir = run("g1", with(gen, "--lora", "x=" + f.resolve("peft")));
        ChildCli.Result viaGguf = run("g2", with(gen, "--lora", "x=" + f.resolve("oracle.gguf")));
        assertEquals(0, viaDir.exit(), viaDir.err());
        assertEquals(viaGguf.out(), viaDir.out());
        assertNotEquals(run("g0", gen).out(), viaDir.out(), "the adapter changes the text");
        ChildCli.Result scaledDir = run("g3", with(gen, "--lora-scaled", "x=" + f.resolve("peft") + ":0.5"));
        assertEquals(0, scaledDir.exit(), scaledDir.err());
        assertEquals(run("g4", with(gen, "--lora-scaled", "x=" + f.resolve("oracle.gguf") + ":0.5")).out(),
                scaledDir.out());

        Files.writeString(dir.resolve("text.txt"), "The adapter routes each token to the adapters that fit it. ".repeat(8));
        String[] ppl = {"perplexity", "-m", base, "-f", dir.resolve("text.txt").toString(), "-c", "32", "-t", "1",
            "--json", "--adapter", "x"};
        ChildCli.Result pDir = run("p1", with(ppl, "--lora", "x=" + f.resolve("peft")));
        assertEquals(0, pDir.exit(), pDir.err());
        ChildCli.Result pGguf = run("p2", with(ppl, "--lora", "x=" + f.resolve("oracle.gguf")));
        JsonNode a = new ObjectMapper().readTree(pDir.out()).at("/sets/text.txt");
        JsonNode b = new ObjectMapper().readTree(pGguf.out()).at("/sets/text.txt");
        assertEquals(b.get("nll_per_token").asDouble(), a.get("nll_per_token").asDouble(), "the same numbers, bit for bit");
        assertEquals(b.get("tokens_scored").asInt(), a.get("tokens_scored").asInt());
        try (var s = Files.list(dir.resolve("cache/peft"))) {
            assertEquals(1, s.count(), "one conversion, reused by every run");
        }
    }

    @Test
    void aDirectoryThatCannotBeConvertedIsExitOneWithOneLine() throws Exception {
        Path dora = dir.resolve("dora");
        Files.createDirectories(dora);
        Files.copy(fixture("llama").resolve("peft/adapter_model.safetensors"), dora.resolve("adapter_model.safetensors"));
        Files.writeString(dora.resolve("adapter_config.json"), Files.readString(fixture("llama")
                .resolve("peft/adapter_config.json")).replace("\"use_dora\": false", "\"use_dora\": true"));
        ChildCli.Result r = run("dora", "generate", "-m", fixture("llama").resolve("base.gguf").toString(), "-p", "hi",
                "--lora", "mine=" + dora);
        r.refusedInOneLine("adapter 'mine': " + dora.resolve("adapter_config.json") + ": use_dora is true");
        ChildCli.Result empty = run("empty", "generate", "-m", fixture("llama").resolve("base.gguf").toString(), "-p",
                "hi", "--lora", "mine=" + dir.resolve("empty-dir"));
        assertEquals(1, empty.exit(), "a path that is neither a directory nor a file: " + empty.err());
        Files.createDirectories(dir.resolve("empty-dir"));
        run("empty2", "generate", "-m", fixture("llama").resolve("base.gguf").toString(), "-p", "hi", "--lora",
                "mine=" + dir.resolve("empty-dir")).refusedInOneLine("PEFT adapter directory " + dir.resolve("empty-dir")
                + " has no adapter_config.json");
    }

    private static String[] with(String[] common, String... more) {
        String[] all = java.util.Arrays.copyOf(common, common.length + more.length);
        System.arraycopy(more, 0, all, common.length, more.length);
        return all;
    }
}
