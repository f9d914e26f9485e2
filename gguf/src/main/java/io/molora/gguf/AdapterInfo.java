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
 * <p>An adapter mixture (docs/ADAPTER-MIXTURE.md) is gated per token inside the graph and has, per target, two more
 * tensors, its {@link Gate}: a CoMoL adapter ({@code adapter.type = comol}, patch 0011) {@code X.comol_router} and
 * {@code X.comol_core}; a SAMoRA adapter ({@code adapter.type = samora}, patch 0012) {@code X.samora_keys} and
 * {@code X.samora_tau}, and the names of its tasks in {@code adapter.samora.tasks}. In any other adapter those names
 * are unexpected tensors.
 */
public record AdapterInfo(String generalType, String adapterType, String architecture, float alpha,
                          List<LoraPair> pairs, List<Gate> gates, List<String> tasks, List<String> unexpectedTensors) {

    /** The adapter types llama.cpp loads with molora's patches, and the gate tensors each has per target. */
    public enum Kind {
        LORA("lora", "LoRA", null, null),
        COMOL("comol", "CoMoL", ".comol_router", ".comol_core"),
        SAMORA("samora", "SAMoRA", ".samora_keys", ".samora_tau");

        private final String type;
        private final String label;
        private final String routerSuffix;
        private final String tableSuffix;

        Kind(String type, String label, String routerSuffix, String tableSuffix) {
            this.type = type;
            this.label = label;
            this.routerSuffix = routerSuffix;
            this.tableSuffix = tableSuffix;
        }

        /** The adapter.type value. */
        public String type() {
            return type;
        }

        /** The family's name as its paper writes it. */
        public String label() {
            return label;
        }

        /** A mixture whose gate llama.cpp computes per token in the graph (no host-given routes). */
        public boolean gated() {
            return routerSuffix != null;
        }

        /** The suffix of the router tensor (ne [r, E]): comol_router, samora_keys. */
        public String routerSuffix() {
            return routerSuffix;
        }

        /** The suffix of the second gate tensor: comol_core (ne [r*E, r]), samora_tau (ne [tasks + 1]). */
        public String tableSuffix() {
            return tableSuffix;
        }

        public static Optional<Kind> ofType(String adapterType) {
            for (Kind k : values()) {
                if (k.type.equals(adapterType)) {
                    return Optional.of(k);
                }
            }
            return Optional.empty();
        }
    }

    /**
     * A mixture's gate tensors for one target; either may be null. {@code router}: comol_router or samora_keys
     * (ne [r, E]); {@code table}: comol_core (ne [r*E, r]) or samora_tau (ne [tasks + 1]).
     */
    public record Gate(String baseTensor, GgufTensorInfo router, GgufTensorInfo table) {}

    public static final String TASKS_KEY = "adapter.samora.tasks";

    public AdapterInfo {
        pairs = List.copyOf(pairs);
        gates = List.copyOf(gates);
        tasks = List.copyOf(tasks);
        unexpectedTensors = List.copyOf(unexpectedTensors);
    }

    public static AdapterInfo of(GgufFile file) throws GgufFormatException {
        Map<String, GgufTensorInfo[]> byBase = new TreeMap<>();
        Map<String, GgufTensorInfo[]> gatesByBase = new TreeMap<>();
        List<String> unexpected = new ArrayList<>();
        Kind kind = Kind.ofType(file.string("adapter.type").orElse("")).orElse(Kind.LORA);
        for (GgufTensorInfo t : file.tensors()) {
            String n = t.name();
            if (kind.gated() && n.endsWith(kind.routerSuffix)) {
                gatesByBase.computeIfAbsent(base(n, kind.routerSuffix), k -> new GgufTensorInfo[2])[0] = t;
            } else if (kind.gated() && n.endsWith(kind.tableSuffix)) {
                gatesByBase.computeIfAbsent(base(n, kind.tableSuffix), k -> new GgufTensorInfo[2])[1] = t;
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
        List<Gate> gates = new ArrayList<>();
        gatesByBase.forEach((base, rt) -> gates.add(new Gate(base, rt[0], rt[1])));
        List<String> tasks = file.get(TASKS_KEY).filter(v -> v.type() == GgufValueType.ARRAY
                && v.asArray().elementType() == GgufValueType.STRING).map(v -> v.asArray().strings()).orElse(List.of());
        Optional<Double> alpha = file.number("adapter.lora.alpha");
        return new AdapterInfo(file.string("general.type").orElse(""), file.string("adapter.type").orElse(""),
                file.string("general.architecture").orElse(""), alpha.map(Double::floatValue).orElse(0f),
                pairs, gates, tasks, unexpected);
    }

    // llama.cpp uses replace_all(name, ".lora_a", ""), i.e. it removes every occurrence.
    private static String base(String name, String suffix) {
        return name.replace(suffix, "");
    }

    /** The adapter's kind, empty when it is no adapter llama.cpp loads (another general.type or adapter.type). */
    public Optional<Kind> kind() {
        return "adapter".equals(generalType) ? Kind.ofType(adapterType) : Optional.empty();
    }

    public boolean isLora() {
        return kind().orElse(null) == Kind.LORA;
    }

    /** A mixture gated per token inside the graph (CoMoL, SAMoRA). */
    public boolean isGated() {
        return kind().map(Kind::gated).orElse(false);
    }

    /** Base tensor names this adapter modifies. */
    public List<String> targets() {
        return pairs.stream().map(LoraPair::baseTensor).toList();
    }
}
