package io.molora.adapters;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Model;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The pure-Java estimate of the routed copies (used by the VRAM fit check before anything is loaded) against the
 * buffers llama.cpp actually allocates when the adapters are registered for routing, as its log reports them.
 */
class AdapterMemoryTest {
    private static final Pattern BUFFER = Pattern.compile("LoRA routing buffer size = .* \\((\\d+) bytes\\)");
    private static final Pattern FORM = Pattern.compile("(\\d+) weights \\((\\d+) F16, (\\d+) F32\\), (\\w+)");
    /** Backend buffers round every tensor up to their alignment (at most 256 bytes on CPU and CUDA). */
    private static final long ALIGNMENT = 256;

    @TempDir
    static Path dir;
    private static Path modelPath;
    private static Model model;

    @BeforeAll
    static void load() throws IOException {
        modelPath = NativeTestSupport.writeTinyModel(dir, 21);
        model = Model.load(modelPath, NativeTestSupport.modelParams());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static AdapterSpec lora(String name, int rank, EnumSet<LoraTarget> targets, GgmlType type)
            throws IOException {
        return new AdapterSpec(name, NativeTestSupport.writeLora(dir,
                new LoraSpec(name, rank, rank, targets, name.hashCode(), 1f, type)), 1f);
    }

    @Test
    void f16AdaptersArePackedAsF16AndTheEstimateMatchesTheAllocation() throws IOException {
        EnumSet<LoraTarget> ends = EnumSet.of(LoraTarget.Q, LoraTarget.DOWN, LoraTarget.OUTPUT, LoraTarget.TOKEN_EMBD);
        List<AdapterSpec> specs = List.of(lora("h1", 4, ends, GgmlType.F16),
                lora("h2", 8, EnumSet.of(LoraTarget.Q, LoraTarget.V), GgmlType.F16));
        Registration r = register(specs);
        int layers = NativeTestSupport.tinyConfig().blockCount();
        assertEquals(3 * layers + 2, r.weights, "q, v, down of every layer, output and token_embd");
        assertEquals(r.weights, r.f16, "every pair is F16, so every copy is");
        assertEstimate(specs, r);
    }

    @Test
    void anF32PairMakesThatWeightsCopyF32() throws IOException {
        List<AdapterSpec> specs = List.of(lora("m16", 4, EnumSet.of(LoraTarget.Q, LoraTarget.K), GgmlType.F16),
                lora("m32", 8, EnumSet.of(LoraTarget.K, LoraTarget.UP), GgmlType.F32));
        Registration r = register(specs);
        int layers = NativeTestSupport.tinyConfig().blockCount();
        assertEquals(layers, r.f16, "only q is F16 in every adapter that has it");
        assertEquals(2 * layers, r.weights - r.f16, "k (mixed) and up (F32) are F32");
        assertEstimate(specs, r);
    }

    @Test
    void anF16PairThatWouldOverflowOnceScaledIsCopiedInF32() throws IOException {
        // |B| up to about 43 000 (fine in F16), folded scale alpha/rank = 8/4 = 2: over F16's 65 504 once packed
        AdapterSpec big = new AdapterSpec("big", NativeTestSupport.writeLora(dir,
                new LoraSpec("big", 4, 8f, EnumSet.of(LoraTarget.Q), 7, 50_000f, GgmlType.F16)), 1f);
        List<AdapterSpec> specs = List.of(big, lora("small", 4, EnumSet.of(LoraTarget.V), GgmlType.F16));
        Registration r = register(specs);
        int layers = NativeTestSupport.tinyConfig().blockCount();
        assertEquals(layers, r.f16, "v stays F16");
        assertEquals(layers, r.weights - r.f16, "q is F32: its scaled B would overflow F16");
    }

    @Test
    void wideSetsAreGatheredInF32() throws IOException {
        // K * r_max = 2 * 520 > 1024: the gathered form
        List<AdapterSpec> specs = List.of(lora("w1", 520, EnumSet.of(LoraTarget.O), GgmlType.F16),
                lora("w2", 3, EnumSet.of(LoraTarget.O, LoraTarget.GATE), GgmlType.F16));
        Registration r = register(specs);
        assertEquals("gathered", r.form);
        assertEquals(0, r.f16);
        assertEstimate(specs, r);
    }

    private static void assertEstimate(List<AdapterSpec> specs, Registration r) {
        // deviceBytes = the adapters' tensors as loaded (all of these files' tensors) + the routed copies
        long copies = AdapterMemory.deviceBytes(modelPath, specs, NativeTestSupport.gpuLayers() != 0)
                - ownTensorBytes(specs);
        assertTrue(copies <= r.bytes && r.bytes <= copies + 2 * r.weights * ALIGNMENT,
                "estimated " + copies + " bytes of routed copies, llama.cpp allocated " + r.bytes);
    }

    private static long ownTensorBytes(List<AdapterSpec> specs) {
        long sum = 0;
        for (AdapterSpec s : specs) {
            try (GgufFile f = GgufFile.open(s.path())) {
                for (GgufTensorInfo t : f.tensors()) {
                    sum += t.byteSize();
                }
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
        return sum;
    }

    private record Registration(long bytes, int weights, int f16, String form) {}

    /** Registers the adapters for routing on a fresh context and reads what llama.cpp logs about the copies. */
    private static Registration register(List<AdapterSpec> specs) {
        List<String> lines = NativeTestSupport.llamaLog(() -> {
            try (AdapterSet set = AdapterSet.load(model, specs);
                 Context ctx = Context.create(model, ContextParams.defaults().withContextSize(64))) {
                ctx.setRouting(set.adapters(), set.scales(), 1);
            }
        });
        long bytes = 0;
        Matcher form = null;
        for (String line : lines) {
            Matcher m = BUFFER.matcher(line);
            if (m.find()) {
                bytes += Long.parseLong(m.group(1));
            }
            Matcher f = FORM.matcher(line);
            if (f.find()) {
                form = f;
            }
        }
        assertTrue(form != null && bytes > 0, "llama.cpp logged no routing buffer: " + lines);
        return new Registration(bytes, Integer.parseInt(form.group(1)), Integer.parseInt(form.group(2)),
                form.group(4));
    }
}
