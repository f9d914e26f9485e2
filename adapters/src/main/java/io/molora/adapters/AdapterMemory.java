package io.molora.adapters;

import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.LoraPair;
import io.molora.runtime.Devices;
import io.molora.runtime.LlamaException;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutingParams;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * How much memory a set of adapters takes once loaded and registered for per-token routing, known before the model's
 * weights are loaded (for the VRAM fit check). Two parts: the adapters' own tensors, as their files' tensor tables say,
 * and the packed copies {@code llama_set_lora_routing} makes of them, as llama.cpp itself computes them
 * ({@code llama_lora_routing_bytes}) on a metadata-only ({@code no_alloc}) load of the model with the adapters.
 */
public final class AdapterMemory {
    private AdapterMemory() {}

    /**
     * @param own    bytes of the adapters' own tensors
     * @param routed bytes of the routed copies on each device (index i: device i of {@link Devices#list()})
     */
    public record Footprint(long own, long[] routed) {
        /** Own tensors plus the copies on GPUs, or everywhere when there is no GPU: what a GPU must hold for them. */
        public long deviceBytes() {
            List<Devices.Device> devices = Devices.list();
            boolean anyGpu = devices.stream().anyMatch(Devices.Device::isGpu);
            long sum = own;
            for (int i = 0; i < routed.length; i++) {
                if (!anyGpu || (i < devices.size() && devices.get(i).isGpu())) {
                    sum += routed[i];
                }
            }
            return sum;
        }

        public long routedTotal() {
            long sum = 0;
            for (long b : routed) {
                sum += b;
            }
            return sum;
        }
    }

    /**
     * The footprint of the adapters named by {@code specs} on {@code model} loaded with {@code modelParams}, routed
     * with {@code routing}; loads the model's metadata and the adapters (not the model's weights) to ask llama.cpp.
     */
    public static Footprint of(Path model, ModelParams modelParams, List<AdapterSpec> specs, RoutingParams routing) {
        if (specs.isEmpty()) {
            return new Footprint(0, new long[0]);
        }
        long own = 0;
        for (AdapterSpec s : specs) {
            Model.checkGgufFile(s.path(), "adapter '" + s.name() + "'");
            try (GgufFile f = GgufFile.open(s.path())) {
                for (LoraPair p : AdapterInfo.of(f).pairs()) {
                    own += (p.a() == null ? 0 : p.a().byteSize()) + (p.b() == null ? 0 : p.b().byteSize());
                }
            } catch (GgufFormatException e) {
                throw new LlamaException("adapter '" + s.name() + "' is not valid GGUF: " + e.getMessage(), e);
            } catch (IOException e) {
                throw new LlamaException("cannot read adapter '" + s.name() + "': " + e.getMessage(), e);
            }
        }
        try (Model probe = Model.load(model, modelParams.withNoAlloc(true));
             AdapterSet set = AdapterSet.load(probe, specs)) {
            return new Footprint(own, LoraAdapter.routedCopyBytes(probe, set.adapters(), set.scales(), routing));
        }
    }
}
