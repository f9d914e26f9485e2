package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.security.MessageDigest;
import java.util.HexFormat;
import io.molora.runtime.testing.NativeTestSupport;
import org.junit.jupiter.api.Test;

/** The committed bindings were generated from the llama.h that native-build now produces (pinned source + patches). */
class BindingsUpToDateTest {
    @Test
    void committedBindingsMatchThePatchedHeader() throws Exception {
        String recorded;
        try (InputStream in = io.molora.bindings.llama.llama_h.class
                .getResourceAsStream("/io/molora/bindings/llama/llama.h.sha256")) {
            assertNotNull(in, "bindings jar lacks llama.h.sha256");
            recorded = new String(in.readAllBytes(), StandardCharsets.US_ASCII).strip();
        }
        byte[] header = Files.readAllBytes(NativeTestSupport.llamaSource().resolve("include/llama.h"));
        String actual = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(header));
        assertEquals(recorded, actual, "bindings are out of date with the patched llama.h: run bindings/regenerate");
    }
}
