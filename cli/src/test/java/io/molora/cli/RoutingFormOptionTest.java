package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --lora-routing-form} reaches llama.cpp (its registration log names the form it packed) and, both forms
 * computing the same sums, greedy text does not depend on it.
 */
class RoutingFormOptionTest {
    @TempDir
    static Path dir;
    private static Path model;
    private static Path a;
    private static Path b;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 11);
        a = NativeTestSupport.writeLora(dir, new LoraSpec("a", 4, 4f, EnumSet.of(LoraTarget.Q, LoraTarget.V), 1, 1f,
                GgmlType.F32));
        b = NativeTestSupport.writeLora(dir, new LoraSpec("b", 8, 8f, EnumSet.of(LoraTarget.V, LoraTarget.UP), 2, 1f,
                GgmlType.F32));
    }

    private record Result(CliTest.Run run, String log) {}

    /** generate with both adapters (all on every token) in {@code form}; what it printed and what llama.cpp logged. */
    private static Result generate(String form) {
        CliTest.Run[] run = new CliTest.Run[1];
        List<String> log = NativeTestSupport.llamaLog(() -> run[0] = CliTest.run("generate", "-m", model.toString(),
                "-p", "hello there", "-n", "8", "--temp", "0", "-ngl", Integer.toString(NativeTestSupport.gpuLayers()),
                "--lora", "a=" + a, "--lora", "b=" + b, "--lora-routing-form", form));
        assertEquals(0, run[0].exit(), form + ": " + run[0].err());
        return new Result(run[0], String.join("\n", log));
    }

    @Test
    void theFormIsLlamaCppsAndTheGreedyTextTheSame() {
        Result concat = generate("concat");
        Result gather = generate("gather");
        Result auto = generate("auto");
        assertTrue(concat.log().contains("concatenated + masked form"), concat.log());
        assertTrue(gather.log().contains("gathered (mul_mat_id) form"), gather.log());
        assertTrue(auto.log().contains("concatenated + masked form"), "two adapters of rank <= 8: " + auto.log());
        assertTrue(!concat.run().out().isBlank());
        assertEquals(concat.run().out(), gather.run().out());
        assertEquals(concat.run().out(), auto.run().out());
    }
}
