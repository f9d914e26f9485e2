package io.molora.adapters;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.RoutingForm;
import io.molora.runtime.RoutingParams;
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
 * llama.cpp's own answer to "how big are the routed copies" ({@code llama_lora_routing_bytes}, asked before the copies
 * are made) against the buffers {@code llama_set_lora_routing} then actually allocates, as its log reports them: equal
 * to the byte, for F16 and F32 adapters, both forms, and the F16 pairs whose scaled values force F32. And the fit
 * check's figure ({@link AdapterMemory#of}, a metadata-only load) against the same allocation.
 */
class AdapterMemoryTest {
    private static final Pattern BUFFER = Pattern.compile("LoRA routing buffer size = .* \\((\\d+) bytes\\)");
    private static final Pattern FORM = Pattern.compile("(\\d+) weights \\((\\d+) F16, (\\d+) F32\\), (\\w+)");

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

    private static RoutingParams form(RoutingForm f) {
        return RoutingParams.defaults().withForm(f);
    }

    @Test
    void f16AdaptersArePackedAsF16AndTheNativeFigureIsWhatIsAllocated() throws IOException {
        EnumSet<LoraTarget> ends = EnumSet.of(LoraTarget.Q, LoraTarget.DOWN, LoraTarget.OUTPUT, LoraTarget.TOKEN_EMBD);
        List<AdapterSpec> specs = List.of(lora("h1", 4, ends, GgmlType.F16),
                lora("h2", 8, EnumSet.of(LoraTarget.Q, LoraTarget.V), GgmlType.F16));
        Registration r = register(specs, form(RoutingForm.AUTO));
        int layers = NativeTestSupport.tinyConfig().blockCount();
        assertEquals(3 * layers + 2, r.weights, "q, v, down of every layer, output and token_embd");
        assertEquals(r.weights, r.f16, "every pair is F16, so every copy is");
        assertEquals("concatenated", r.form);
        assertEquals(r.bytes, r.predicted, "llama_lora_routing_bytes vs the allocation");
    }

    @Test
    void theGatheredFormOfF16AdaptersIsF32AndTheFigureFollows() throws IOException {
        List<AdapterSpec> specs = List.of(lora("g1", 4, EnumSet.of(LoraTarget.Q, LoraTarget.TOKEN_EMBD), GgmlType.F16),
                lora("g2", 8, EnumSet.of(LoraTarget.Q, LoraTarget.UP), GgmlType.F16));
        Registration concat = register(specs, form(RoutingForm.CONCAT));
        Registration gather = register(specs, form(RoutingForm.GATHER));
        assertEquals("concatenated", concat.form);
        assertEquals("gathered", gather.form);
        assertEquals(0, gather.f16);
        assertEquals(concat.bytes, concat.predicted, "concat: llama_lora_routing_bytes vs the allocation");
        assertEquals(gather.bytes, gather.predicted, "gather: llama_lora_routing_bytes vs the allocation");
        assertTrue(gather.bytes > concat.bytes, "F32 copies take more than F16 ones");
    }

    @Test
    void anF32PairMakesThatWeightsCopyF32() throws IOException {
        List<AdapterSpec> specs = List.of(lora("m16", 4, EnumSet.of(LoraTarget.Q, LoraTarget.K), GgmlType.F16),
                lora("m32", 8, EnumSet.of(LoraTarget.K, LoraTarget.UP), GgmlType.F32));
        for (RoutingForm f : List.of(RoutingForm.CONCAT, RoutingForm.GATHER)) {
            Registration r = register(specs, form(f));
            int layers = NativeTestSupport.tinyConfig().blockCount();
            assertEquals(f == RoutingForm.CONCAT ? layers : 0, r.f16, f + ": only q is F16 in every adapter that has it");
            assertEquals(r.bytes, r.predicted, f + ": llama_lora_routing_bytes vs the allocation");
        }
    }

    @Test
    void anF16PairThatWouldOverflowOnceScaledIsCopiedInF32AndCountedSo() throws IOException {
        // |B| up to about 43 000 (fine in F16), folded scale alpha/rank = 8/4 = 2: over F16's 65 504 once packed
        AdapterSpec big = new AdapterSpec("big", NativeTestSupport.writeLora(dir,
                new LoraSpec("big", 4, 8f, EnumSet.of(LoraTarget.Q), 7, 50_000f, GgmlType.F16)), 1f);
        List<AdapterSpec> specs = List.of(big, lora("small", 4, EnumSet.of(LoraTarget.V), GgmlType.F16));
        Registration r = register(specs, form(RoutingForm.AUTO));
        int layers = NativeTestSupport.tinyConfig().blockCount();
        assertEquals(layers, r.f16, "v stays F16");
        assertEquals(layers, r.weights - r.f16, "q is F32: its scaled B would overflow F16");
        assertEquals(r.bytes, r.predicted, "the figure knows it (the Java mirror it replaces did not)");
    }

    @Test
    void wideSetsAreGatheredInF32() throws IOException {
        // K * r_max = 2 * 520 > 1024: the gathered form
        List<AdapterSpec> specs = List.of(lora("w1", 520, EnumSet.of(LoraTarget.O), GgmlType.F16),
                lora("w2", 3, EnumSet.of(LoraTarget.O, LoraTarget.GATE), GgmlType.F16));
        Registration r = register(specs, form(RoutingForm.AUTO));
        assertEquals("gathered", r.form);
        assertEquals(0, r.f16);
        assertEquals(r.bytes, r.predicted);
        // a wider threshold keeps them concatenated
        Registration c = register(specs, form(RoutingForm.AUTO).withGatherWidth(2048));
        assertEquals("concatenated", c.form);
        assertEquals(c.bytes, c.predicted);
    }

    @Test
    void theFitChecksFigureComesFromAMetadataOnlyLoadAndMatchesTheAllocation() throws IOException {
        List<AdapterSpec> specs = List.of(lora("p1", 4, EnumSet.of(LoraTarget.Q, LoraTarget.OUTPUT), GgmlType.F16),
                lora("p2", 8, EnumSet.of(LoraTarget.V), GgmlType.F32));
        for (RoutingForm f : List.of(RoutingForm.CONCAT, RoutingForm.GATHER)) {
            Registration r = register(specs, form(f));
            AdapterMemory.Footprint fp = AdapterMemory.of(modelPath, NativeTestSupport.modelParams(), specs, form(f));
            assertEquals(r.bytes, fp.routedTotal(), f + ": routed copies, metadata-only load vs the allocation");
            assertArrayEquals(r.perDevice, fp.routed(), f + ": per device");
            assertEquals(ownTensorBytes(specs), fp.own(), "the adapters' own tensors");
        }
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

    private record Registration(long bytes, long predicted, long[] perDevice, int weights, int f16, String form) {}

    /**
     * Asks llama.cpp what the copies will take, then registers the adapters for routing on a fresh context and reads
     * what llama.cpp logs allocating.
     */
    private static Registration register(List<AdapterSpec> specs, RoutingParams params) {
        long[][] predicted = new long[1][];
        List<String> lines = NativeTestSupport.llamaLog(() -> {
            try (AdapterSet set = AdapterSet.load(model, specs);
                 Context ctx = Context.create(model, ContextParams.defaults().withContextSize(64))) {
                predicted[0] = LoraAdapter.routedCopyBytes(model, set.adapters(), set.scales(), params);
                ctx.setRouting(set.adapters(), set.scales(), params);
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
        long sum = 0;
        for (long b : predicted[0]) {
            sum += b;
        }
        return new Registration(bytes, sum, predicted[0], Integer.parseInt(form.group(1)),
                Integer.parseInt(form.group(2)), form.group(4));
    }
}
