package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Flash attention and KV cache types reach llama.cpp as given: its own log of the context it made says so. */
class ContextParamsTest {
    @TempDir
    Path dir;

    @Test
    void flashAttentionAndCacheTypesReachLlamaCpp() throws IOException {
        try (Model model = Model.load(NativeTestSupport.writeTinyModel(dir, 5), NativeTestSupport.modelParams())) {
            String exact = contextLog(model, ContextParams.defaults().exactAttention());
            assertTrue(exact.contains("flash_attn            = disabled"), exact);
            assertTrue(exact.contains("K (f32)") && exact.contains("V (f32)"), exact);

            String other = contextLog(model, ContextParams.defaults().withFlashAttention(FlashAttention.ON)
                    .withKvCacheTypes(KvCacheType.BF16, KvCacheType.F32));
            assertTrue(other.contains("flash_attn            = enabled"), other);
            assertTrue(other.contains("K (bf16)") && other.contains("V (f32)"), other);

            // the tiny model's heads are 16 wide: a quantized cache (blocks of 32) is refused before llama.cpp sees it
            var e = assertThrows(IllegalArgumentException.class, () -> Context.create(model, ContextParams.defaults()
                    .withContextSize(64).withKvCacheTypes(KvCacheType.Q8_0, KvCacheType.F16)));
            assertTrue(e.getMessage().contains("-ctk") && e.getMessage().contains("head width of 16"), e.getMessage());

            String defaults = contextLog(model, ContextParams.defaults());
            assertTrue(defaults.contains("flash_attn            = auto"), defaults);
            assertTrue(defaults.contains("K (f16)") && defaults.contains("V (f16)"), defaults);
        }
    }

    @Test
    void aQuantizedVCacheWithoutFlashAttentionIsRefusedBeforeLlamaCpp() {
        var e = assertThrows(IllegalArgumentException.class, () -> ContextParams.defaults()
                .withFlashAttention(FlashAttention.OFF).withKvCacheTypes(KvCacheType.F16, KvCacheType.Q8_0));
        assertTrue(e.getMessage().contains("needs flash attention"), e.getMessage());
    }

    @Test
    void llamaCppSpellingsParse() {
        assertEquals(FlashAttention.OFF, FlashAttention.parse("off"));
        assertEquals(FlashAttention.AUTO, FlashAttention.parse("auto"));
        assertEquals(KvCacheType.IQ4_NL, KvCacheType.parse("iq4_nl"));
        var e = assertThrows(IllegalArgumentException.class, () -> KvCacheType.parse("q3_k"));
        assertTrue(e.getMessage().contains("q8_0"), e.getMessage());
        assertEquals(34, KvCacheType.Q8_0.bytes(32));
        assertEquals(256, KvCacheType.F32.bytes(64));
    }

    private static String contextLog(Model model, ContextParams params) {
        List<String> lines = NativeTestSupport.llamaLog(() -> {
            try (Context ignored = Context.create(model, params.withContextSize(64))) {
                // the log of creating it is what is checked
            }
        });
        return String.join("\n", lines);
    }
}
