package io.molora.adapters;

import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.LoraPair;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * How much memory a set of adapters takes once loaded and registered for per-token routing, read from the GGUF files
 * alone (for the VRAM fit check, before anything is loaded). Two parts: the adapters' own tensors, as llama.cpp loads
 * them, and the packed copies that the routing patch's {@code llama_set_lora_routing} makes of them. Those copies
 * follow the patch's packing rule (native-build/patches/0001-per-token-lora-routing.patch, llama_lora_routing::init):
 * for every base weight any adapter targets, {@code K·r_max·(n_in + n_out)} values, r_max being the largest rank of
 * the set; F16 when every adapter's pair for that weight is F16 (in the concatenated form), else F32; the gathered form
 * (total width K·r_max over 1024, or {@code LLAMA_LORA_ROUTING=gather}) pads r_max to 32 on a GPU. Not mirrored: the
 * patch keeps F32 where a scale above 1 would push an F16 value out of range — an estimate below the truth there.
 */
public final class AdapterMemory {
    /** The width past which the patch gathers instead of concatenating (llama_lora_routing::init). */
    static final long GATHER_WIDTH = 1024;

    private AdapterMemory() {}

    /** Bytes the adapters named by {@code specs} will occupy with {@code model}: their tensors plus the routed copies. */
    public static long deviceBytes(Path model, List<AdapterSpec> specs, boolean onGpu) {
        if (specs.isEmpty()) {
            return 0;
        }
        List<AdapterInfo> infos = new ArrayList<>();
        long own = 0;
        for (AdapterSpec s : specs) {
            Model.checkGgufFile(s.path(), "adapter '" + s.name() + "'");
            try (GgufFile f = GgufFile.open(s.path())) {
                AdapterInfo info = AdapterInfo.of(f);
                infos.add(info);
                for (LoraPair p : info.pairs()) {
                    own += (p.a() == null ? 0 : p.a().byteSize()) + (p.b() == null ? 0 : p.b().byteSize());
                }
            } catch (GgufFormatException e) {
                throw new LlamaException("adapter '" + s.name() + "' is not valid GGUF: " + e.getMessage(), e);
            } catch (IOException e) {
                throw new LlamaException("cannot read adapter '" + s.name() + "': " + e.getMessage(), e);
            }
        }
        try (GgufFile base = GgufFile.open(model)) {
            Map<String, GgufTensorInfo> tensors = new HashMap<>();
            base.tensors().forEach(t -> tensors.put(t.name(), t));
            return own + routedCopyBytes(tensors, infos, onGpu, System.getenv("LLAMA_LORA_ROUTING"));
        } catch (IOException e) {
            throw new LlamaException("cannot read model " + model + ": " + e.getMessage(), e);
        }
    }

    /**
     * Bytes of the copies {@code llama_set_lora_routing} packs for {@code adapters} (route id i = adapters[i]).
     * {@code form} is the {@code LLAMA_LORA_ROUTING} setting (null: chosen by width).
     */
    static long routedCopyBytes(Map<String, GgufTensorInfo> baseTensors, List<AdapterInfo> adapters, boolean onGpu,
                                String form) {
        long k = adapters.size();
        long rMax = 0;
        // target weight -> whether every pair for it is F16
        Map<String, Boolean> allF16 = new TreeMap<>();
        for (AdapterInfo a : adapters) {
            for (LoraPair p : a.pairs()) {
                rMax = Math.max(rMax, p.rank());
                boolean f16 = p.complete() && p.a().type() == GgmlType.F16 && p.b().type() == GgmlType.F16;
                allF16.merge(p.baseTensor(), f16, Boolean::logicalAnd);
            }
        }
        boolean gather = form != null ? form.equals("gather") : k * rMax > GATHER_WIDTH;
        if (gather && onGpu) {
            rMax = (rMax + 31) / 32 * 32;
        }
        long width = k * rMax;
        long bytes = 0;
        for (Map.Entry<String, Boolean> e : allF16.entrySet()) {
            GgufTensorInfo w = baseTensors.get(e.getKey());
            if (w == null) {
                continue; // llama.cpp refuses such an adapter before routing sees it
            }
            long bytesPerValue = !gather && e.getValue() ? 2 : 4;
            bytes += width * (w.dim(0) + w.dim(1)) * bytesPerValue;
        }
        return bytes;
    }
}
