package io.molora.gguf;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

/**
 * What a LoRA adapter file declares (convert_lora_to_gguf.py format): general.type,
 * adapter.type, adapter.lora.alpha (0 when absent, as llama.cpp reads it), and the lora_a /
 * lora_b pairs grouped by the base tensor they target. Tensors ending in "_norm.weight" are
 * ignored like llama.cpp does; any other tensor is listed in {@code unexpectedTensors}.
 *
 * <p>A CoMoL adapter ({@code adapter.type = comol}, patch 0011, docs/ADAPTER-MIXTURE.md) also has, per target,
 * {@code X.comol_core} and {@code X.comol_router}: its {@link CoreGate}s. In any other adapter those names are
 * unexpected tensors.
 */
public record AdapterInfo(String generalType, String adapterType, String architecture, float alpha,
                          List<LoraPair> pairs, List<CoreGate> gates, List<String> unexpectedTensors) {

    /** A CoMoL adapter's router R (ne [r, E]) and cores M (ne [r*E, r]) for one target; either may be null. */
    public record CoreGate(String baseTensor, GgufTensorInfo core, GgufTensorInfo router) {}

    public static final String COMOL = "comol";

    public AdapterInfo {
        pairs = List.copyOf(pairs);
        gates = List.copyOf(gates);
        unexpectedTensors = List.copyOf(unexpectedTensors);
    }

    public static AdapterInfo of(GgufFile file) throws GgufFormatException {
        Map<String, GgufTensorInfo[]> byBase = new TreeMap<>();
        Map<String, GgufTensorInfo[]> gatesByBase = new TreeMap<>();
        List<String> unexpected = new ArrayList<>();
        boolean comol = COMOL.equals(file.string("adapter.type").orElse(""));
        for (GgufTensorInfo t : file.tensors()) {
            String n = t.name();
            if (comol && n.endsWith(".comol_core")) {
                gatesByBase.computeIfAbsent(base(n, ".comol_core"), k -> new GgufTensorInfo[2])[0] = t;
            } else if (comol && n.endsWith(".comol_router")) {
                gatesByBase.computeIfAbsent(base(n, ".comol_router"), k -> new GgufTensorInfo[2])[1] = t;
            } else if (n.endsWith(".lora_a")) {
                byBase.computeIfAbsent(base(n, ".lora_a"), k -> new GgufTensorInfo[2])[0] = t;
            } else if (n.endsWith(".lora_b")) {
                byBase.computeIfAbsent(base(n, ".lora_b"), k -> new GgufTensorInfo[2])[1] = t;
            } else if (!n.endsWith("_norm.weight")) {
                unexpected.add(n);
            }
        }
        List<LoraPair> pairs = new ArrayList<>();
        byBase.forEach((base, ab) -> pairs.add(new LoraPair(base, ab[0], ab[1])));
        List<CoreGate> gates = new ArrayList<>();
        gatesByBase.forEach((base, cr) -> gates.add(new CoreGate(base, cr[0], cr[1])));
        Optional<Double> alpha = file.number("adapter.lora.alpha");
        return new AdapterInfo(file.string("general.type").orElse(""), file.string("adapter.type").orElse(""),
                file.string("general.architecture").orElse(""), alpha.map(Double::floatValue).orElse(0f),
                pairs, gates, unexpected);
    }

    // llama.cpp uses replace_all(name, ".lora_a", ""), i.e. it removes every occurrence.
    private static String base(String name, String suffix) {
        return name.replace(suffix, "");
    }

    public boolean isLora() {
        return "adapter".equals(generalType) && "lora".equals(adapterType);
    }

    /** A CoMoL adapter: each target's update is gated per token inside the graph (patch 0011). */
    public boolean isComol() {
        return "adapter".equals(generalType) && COMOL.equals(adapterType);
    }

    /** Base tensor names this adapter modifies. */
    public List<String> targets() {
        return pairs.stream().map(LoraPair::baseTensor).toList();
    }
}
