package io.molora.adapters.peft;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The Java conversion against llama.cpp's own convert_lora_to_gguf.py: for each architecture's fixture
 * ({@code src/test/resources/peft/make_fixtures.py}: a tiny random HF model, its PEFT LoRA on every projection with
 * random lora_B, and the script's output {@code oracle.gguf}), the GGUF molora writes has the script's tensors in the
 * script's order, names, types and shapes, with the same bytes, and the script's keys with the same types and values —
 * all but {@code general.name}, which gguf-py makes up from the directory's name and model card and llama.cpp never
 * reads; molora adds only its {@code molora.peft.*} provenance keys.
 */
class PeftOracleTest {
    @TempDir
    Path tmp;

    static Path fixture(String arch) {
        try {
            return Path.of(Objects.requireNonNull(PeftOracleTest.class.getResource("/peft/" + arch)).toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"llama", "qwen2", "qwen3", "gemma3", "phi3"})
    void equalsConvertLoraToGguf(String arch) throws IOException {
        Path dir = fixture(arch);
        Path out = tmp.resolve(arch + ".gguf");
        try (GgufFile base = GgufFile.open(dir.resolve("base.gguf"))) {
            PeftAdapter peft = PeftAdapter.read(dir.resolve("peft"), base);
            peft.write(out);
            peft.checkFits(base, out);
        }
        try (GgufFile oracle = GgufFile.open(dir.resolve("oracle.gguf")); GgufFile ours = GgufFile.open(out)) {
            List<String> names = oracle.tensors().stream().map(GgufTensorInfo::name).toList();
            assertEquals(names, ours.tensors().stream().map(GgufTensorInfo::name).toList(), "tensors and their order");
            for (GgufTensorInfo o : oracle.tensors()) {
                GgufTensorInfo m = ours.tensor(o.name()).orElseThrow();
                assertEquals(o.type(), m.type(), o.name());
                assertArrayEquals(o.shape(), m.shape(), o.name());
                assertArrayEquals(oracle.tensorData(o).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE),
                        ours.tensorData(m).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE), o.name() + " bytes");
            }
            Map<String, GgufValue> want = new LinkedHashMap<>(oracle.metadata());
            want.remove("general.name");
            Map<String, GgufValue> got = new LinkedHashMap<>(ours.metadata());
            got.keySet().removeIf(k -> k.startsWith("molora.peft."));
            assertEquals(want, got, "keys");
            assertTrue(ours.string(PeftAdapter.KEY_SOURCE).isPresent());
        }
    }
}
