package io.molora.adapters.peft;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.Consumer;

/** Copies of the committed PEFT fixtures with one thing changed, and a safetensors writer for them (tests only). */
final class PeftFixtures {
    private PeftFixtures() {}

    /** One F32 tensor to write: PyTorch shape, values. */
    record F32(long[] shape, float[] values) {}

    /** The fixture's PEFT directory of {@code arch} copied to {@code to}. */
    static Path copy(String arch, Path to) throws IOException {
        Path from = PeftOracleTest.fixture(arch).resolve("peft");
        Files.createDirectories(to);
        for (String f : new String[] {PeftConfig.FILE, PeftAdapter.SAFETENSORS}) {
            Files.copy(from.resolve(f), to.resolve(f));
        }
        return to;
    }

    /** The copy with {@code edit} applied to its adapter_config.json. */
    static Path withConfig(String arch, Path to, Consumer<ObjectNode> edit) throws IOException {
        copy(arch, to);
        ObjectMapper json = new ObjectMapper();
        ObjectNode root = (ObjectNode) json.readTree(to.resolve(PeftConfig.FILE).toFile());
        edit.accept(root);
        json.writeValue(to.resolve(PeftConfig.FILE).toFile(), root);
        return to;
    }

    /** The fixture's tensors as F32, by name, in file order. */
    static Map<String, F32> tensors(String arch) throws IOException {
        Safetensors st = Safetensors.open(PeftOracleTest.fixture(arch).resolve("peft").resolve(PeftAdapter.SAFETENSORS));
        Map<String, F32> out = new LinkedHashMap<>();
        for (Safetensors.Tensor t : st.tensors()) {
            out.put(t.name(), new F32(t.shape(), st.floats(t)));
        }
        return out;
    }

    /** The copy with its safetensors replaced by {@code tensors} (all F32). */
    static Path withTensors(String arch, Path to, Map<String, F32> tensors) throws IOException {
        copy(arch, to);
        write(to.resolve(PeftAdapter.SAFETENSORS), tensors);
        return to;
    }

    /** Writes a safetensors file as the safetensors library lays it out (header, then the tensors end to end). */
    static void write(Path file, Map<String, F32> tensors) throws IOException {
        ObjectMapper json = new ObjectMapper();
        ObjectNode header = json.createObjectNode();
        header.putObject("__metadata__").put("format", "pt");
        long at = 0;
        for (Map.Entry<String, F32> e : tensors.entrySet()) {
            ObjectNode t = header.putObject(e.getKey());
            t.put("dtype", "F32");
            var shape = t.putArray("shape");
            for (long d : e.getValue().shape()) {
                shape.add(d);
            }
            long n = e.getValue().values().length * 4L;
            t.putArray("data_offsets").add(at).add(at + n);
            at += n;
        }
        byte[] h = json.writeValueAsString(header).getBytes(StandardCharsets.UTF_8);
        try (OutputStream out = Files.newOutputStream(file)) {
            out.write(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).array());
            out.write(h);
            for (F32 t : tensors.values()) {
                ByteBuffer b = ByteBuffer.allocate(t.values().length * 4).order(ByteOrder.LITTLE_ENDIAN);
                b.asFloatBuffer().put(t.values());
                out.write(b.array());
            }
        }
    }
}
