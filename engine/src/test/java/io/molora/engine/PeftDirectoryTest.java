package io.molora.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.peft.PeftException;
import io.molora.runtime.ContextParams;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Arrays;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code --lora x=DIR} through {@link Engine#open}, on the tiny bases of the PEFT fixtures
 * (adapters/src/test/resources/peft): greedy generation with the PEFT directory equals generation with
 * convert_lora_to_gguf.py's conversion of it (and differs from the base alone: the adapter is applied); the
 * conversion is kept in the cache and reused, not rewritten, on the next open; an entry that was changed is not
 * trusted but written again; a refused directory fails before anything is loaded, naming the adapter.
 */
class PeftDirectoryTest {
    @TempDir
    Path tmp;

    static Path fixture(String arch) {
        return Path.of(System.getProperty("molora.repo.root", "."), "adapters", "src", "test", "resources", "peft", arch);
    }

    static int[] greedy(Path base, List<AdapterSpec> adapters, Path cache) {
        EngineSpec spec = EngineSpec.of(base).withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(128).withThreads(1, 1))
                .withAdapters(adapters, adapters.isEmpty() ? new RouterSpec.Base() : new RouterSpec.AllAdapters())
                .withPeftCache(cache);
        try (Engine e = Engine.open(spec)) {
            return e.generate(new GenerationRequest("The adapter routes each token", 8, SamplerParams.greedy(), false),
                    (t, r) -> { }).tokens();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "qwen2", "qwen3", "gemma3", "phi3"})
    void aPeftDirectoryGeneratesAsConvertLoraToGgufsOutput(String arch) {
        Path base = fixture(arch).resolve("base.gguf");
        Path cache = tmp.resolve("cache");
        int[] viaDir = greedy(base, List.of(new AdapterSpec("x", fixture(arch).resolve("peft"), 1f)), cache);
        int[] viaScript = greedy(base, List.of(new AdapterSpec("x", fixture(arch).resolve("oracle.gguf"), 1f)), cache);
        assertArrayEquals(viaScript, viaDir);
        assertFalse(Arrays.equals(greedy(base, List.of(), cache), viaDir), "the adapter changes the generation");
        // a user scale, as --lora-scaled x=DIR:0.5
        assertArrayEquals(greedy(base, List.of(new AdapterSpec("x", fixture(arch).resolve("oracle.gguf"), 0.5f)), cache),
                greedy(base, List.of(new AdapterSpec("x", fixture(arch).resolve("peft"), 0.5f)), cache));
    }

    private static List<Path> entries(Path cache) throws IOException {
        try (Stream<Path> s = Files.list(cache)) {
            return s.sorted().toList();
        }
    }

    @Test
    void theConversionIsReusedAndAChangedEntryIsNotTrusted() throws IOException {
        Path base = fixture("llama").resolve("base.gguf");
        Path cache = tmp.resolve("cache");
        List<AdapterSpec> dir = List.of(new AdapterSpec("x", fixture("llama").resolve("peft"), 1f));
        int[] first = greedy(base, dir, cache);
        List<Path> kept = entries(cache);
        assertEquals(1, kept.size(), "one entry, no temporary file left: " + kept);
        Path entry = kept.get(0);
        assertTrue(entry.getFileName().toString().matches("[0-9a-f]{64}\\.gguf"), entry.toString());
        BasicFileAttributes before = Files.readAttributes(entry, BasicFileAttributes.class);
        byte[] bytes = Files.readAllBytes(entry);

        assertArrayEquals(first, greedy(base, dir, cache));
        BasicFileAttributes after = Files.readAttributes(entry, BasicFileAttributes.class);
        assertEquals(before.fileKey(), after.fileKey(), "the same file: reused, not replaced");
        assertEquals(before.lastModifiedTime(), after.lastModifiedTime(), "not rewritten");

        byte[] changed = bytes.clone();
        changed[changed.length - 9] ^= 0x40;  // a bit of the last tensor: still valid GGUF, another adapter
        Files.write(entry, changed);
        assertArrayEquals(first, greedy(base, dir, cache), "the changed entry was not used");
        assertArrayEquals(bytes, Files.readAllBytes(entry), "it was written again, whole");
        assertEquals(List.of(entry), entries(cache));

        // the same directory on another base architecture is another entry
        greedy(fixture("qwen3").resolve("base.gguf"),
                List.of(new AdapterSpec("x", fixture("qwen3").resolve("peft"), 1f)), cache);
        assertEquals(2, entries(cache).size());
    }

    @Test
    void aRefusedDirectoryFailsBeforeAnythingIsLoadedNamingTheAdapter() throws IOException {
        Path dora = tmp.resolve("dora");
        Files.createDirectories(dora);
        Files.copy(fixture("llama").resolve("peft/adapter_model.safetensors"), dora.resolve("adapter_model.safetensors"));
        Files.writeString(dora.resolve("adapter_config.json"), Files.readString(fixture("llama")
                .resolve("peft/adapter_config.json")).replace("\"use_dora\": false", "\"use_dora\": true"));
        Path cache = tmp.resolve("cache");
        List<String> log = NativeTestSupport.llamaLog(() -> {
            PeftException e = assertThrows(PeftException.class, () -> greedy(fixture("llama").resolve("base.gguf"),
                    List.of(new AdapterSpec("mine", dora, 1f)), cache));
            assertTrue(e.getMessage().startsWith("adapter 'mine': " + dora.resolve("adapter_config.json")
                    + ": use_dora is true"), e.getMessage());
        });
        assertTrue(log.stream().noneMatch(l -> l.contains("llama_model_load")), "no model was loaded: " + log);
        List<String> loading = NativeTestSupport.llamaLog(() -> greedy(fixture("llama").resolve("base.gguf"), List.of(),
                cache));
        assertTrue(loading.stream().anyMatch(l -> l.contains("llama_model_load")), "a load is seen in the log");
        assertFalse(Files.exists(cache), "nothing was written");
    }
}
