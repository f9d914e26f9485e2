package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * train-router keeps an unlabelled corpus's passes (base and each adapter over every token) in molora's cache: a
 * second router on the same model, adapters and text skips them and is the same router, bit for bit, as one trained
 * from fresh passes; another objective reads the same passes; other text computes its own.
 */
class RouterPassCacheTest {
    @TempDir
    Path dir;

    @Test
    void aSecondRouterOnTheSameCorpusReadsThePassesAndIsTheSameRouter() throws Exception {
        TinyFamily f = TinyFamily.write(dir);
        Files.writeString(dir.resolve("train.txt"), RouterCommandsTest.text(1, 400));
        Map<String, String> env = Map.of("MOLORA_CACHE", dir.resolve("cache").toString());
        String[] common = {"train-router", "-m", f.model().toString(), "--lora", "math=" + f.math(), "--lora",
            "code=" + f.code(), "--corpus", dir.resolve("train.txt").toString(), "--seq-len", "128", "--hidden", "8",
            "--epochs", "3", "--seed", "3", "-t", "1"};
        ChildCli.Result first = ChildCli.runWithEnv(dir.resolve("run1"), env, with(common, "-o", "../r1.gguf"));
        assertEquals(0, first.exit(), first.err());
        assertFalse(first.err().contains("from the cache"), first.err());
        try (Stream<Path> kept = Files.list(dir.resolve("cache/router-passes"))) {
            assertEquals(1, kept.filter(p -> p.toString().endsWith(".passes")).count(), "one file of passes");
        }
        ChildCli.Result second = ChildCli.runWithEnv(dir.resolve("run2"), env, with(common, "-o", "../r2.gguf"));
        assertEquals(0, second.exit(), second.err());
        assertTrue(second.err().contains("passes of base and each adapter: from the cache"), second.err());
        assertFalse(second.err().contains("pass 1/3"), "no pass run again: " + second.err());
        assertArrayEquals(Files.readAllBytes(dir.resolve("r1.gguf")), Files.readAllBytes(dir.resolve("r2.gguf")),
                "the cached passes are the computed ones: the same router, bit for bit");
        ChildCli.Result other = ChildCli.runWithEnv(dir.resolve("run3"), env,
                with(common, "--objective", "expected-loss", "-o", "../r3.gguf"));
        assertEquals(0, other.exit(), other.err());
        assertTrue(other.err().contains("from the cache"), other.err());
        // other text: its own passes
        Files.writeString(dir.resolve("train.txt"), RouterCommandsTest.text(2, 400));
        ChildCli.Result changed = ChildCli.runWithEnv(dir.resolve("run4"), env, with(common, "-o", "../r4.gguf"));
        assertEquals(0, changed.exit(), changed.err());
        assertFalse(changed.err().contains("from the cache"), changed.err());
    }

    private static String[] with(String[] common, String... more) {
        String[] all = java.util.Arrays.copyOf(common, common.length + more.length);
        System.arraycopy(more, 0, all, common.length, more.length);
        return all;
    }
}
