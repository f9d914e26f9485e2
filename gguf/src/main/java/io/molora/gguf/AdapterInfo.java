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
 */
public record AdapterInfo(String generalType, String adapterType, String architecture, float alpha,
                          List<LoraPair> pairs, List<String> unexpectedTensors) {

    public AdapterInfo {
        pairs = List.copyOf(pairs);
        unexpectedTensors = List.copyOf(unexpectedTensors);
    }

    public static AdapterInfo of(GgufFile file) throws GgufFormatException {
        Map<String, GgufTensorInfo[]> byBase = new TreeMap<>();
        List<String> unexpected = new ArrayList<>();
        for (GgufTensorInfo t : file.tensors()) {
            String n = t.name();
            if (n.endsWith(".lora_a")) {
                byBase.computeIfAbsent(base(n, ".lora_a"), k -> new GgufTensorInfo[2])[0] = t;
            } else if (n.endsWith(".lora_b")) {
                byBase.computeIfAbsent(base(n, ".lora_b"), k -> new GgufTensorInfo[2])[1] = t;
            } else if (!n.endsWith("_norm.weight")) {
                unexpected.add(n);
            }
        }
        List<LoraPair> pairs = new ArrayList<>();
        byBase.forEach((base, ab) -> pairs.add(new LoraPair(base, ab[0], ab[1])));
        Optional<Double> alpha = file.number("adapter.lora.alpha");
        return new AdapterInfo(file.string("general.type").orElse(""), file.string("adapter.type").orElse(""),
                file.string("general.architecture").orElse(""), alpha.map(Double::floatValue).orElse(0f),
                pairs, unexpected);
    }

    // llama.cpp uses replace_all(name, ".lora_a", ""), i.e. it removes every occurrence.
    private static String base(String name, String suffix) {
        return name.replace(suffix, "");
    }

    public boolean isLora() {
        return "adapter".equals(generalType) && "lora".equals(adapterType);
    }

    /** Base tensor names this adapter modifies. */
    public List<String> targets() {
        return pairs.stream().map(LoraPair::baseTensor).toList();
    }
}
