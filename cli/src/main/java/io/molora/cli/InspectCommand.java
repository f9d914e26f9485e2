package io.molora.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.molora.adapters.gate.RouterFile;
import io.molora.adapters.gate.TokenEmbeddings;
import io.molora.gguf.AdapterInfo;
import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufValueType;
import io.molora.gguf.LoraCompatibility;
import io.molora.gguf.LoraPair;
import io.molora.gguf.ModelCheck;
import io.molora.gguf.ModelInfo;
import io.molora.gguf.TypeUsage;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * Describes a GGUF model or LoRA adapter without native code; with {@code --model} checks that an adapter fits a base
 * model by the rules llama.cpp applies when loading it.
 */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Describe a GGUF model, LoRA adapter or molora router file (pure Java, no native code) and list "
                + "what would stop llama.cpp (or --router) from loading it; exit code 1 when anything would.",
                "With --model BASE, also check that the adapter or router FILE fits BASE."})
final class InspectCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "FILE", description = "GGUF model or adapter.")
    Path file;

    @Option(names = "--model", paramLabel = "BASE", description = "Base model to check the adapter against.")
    Path base;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Option(names = "--verbose", description = "Stack traces on errors.")
    boolean verbose;

    @Override
    public Integer call() throws IOException {
        PrintWriter out = spec.commandLine().getOut();
        Map<String, Object> report = new LinkedHashMap<>();
        List<String> problems = List.of();
        try (GgufFile gguf = open(file)) {
            report.put("file", file.toString());
            report.put("gguf_version", gguf.version());
            report.put("file_size", gguf.fileSize());
            String type = gguf.get("general.type").filter(v -> v.type() == GgufValueType.STRING)
                    .map(GgufValue::asString).orElse("model");
            report.put("type", type);
            if ("router".equals(type)) {
                problems = describeRouter(report);
                print(report, out);
                return problems.isEmpty() ? 0 : 1;
            }
            List<String> found = new ArrayList<>();
            // the problems first: describing reads some of the keys they are about
            if ("adapter".equals(type)) {
                LoraCompatibility.checkAdapter(gguf).forEach(p -> found.add(p.toString()));
            } else {
                ModelCheck.check(gguf).forEach(p -> found.add(p.toString()));
            }
            try {
                if ("adapter".equals(type)) {
                    describeAdapter(AdapterInfo.of(gguf), report);
                } else {
                    describeModel(ModelInfo.of(gguf), report);
                }
            } catch (GgufFormatException e) {
                if (found.isEmpty()) {
                    throw e;
                }
            }
            if (base != null) {
                try (GgufFile baseFile = open(base)) {
                    for (LoraCompatibility.Problem p : LoraCompatibility.check(baseFile, gguf)) {
                        if (!found.contains(p.toString())) {
                            found.add(p.toString());
                        }
                    }
                }
                report.put("base_model", base.toString());
                report.put("compatible", found.isEmpty());
            }
            problems = found;
            report.put("problems", problems);
        } catch (GgufFormatException e) {
            throw new IllegalArgumentException(e.getMessage(), e);
        }
        print(report, out);
        return problems.isEmpty() ? 0 : 1;
    }

    private void print(Map<String, Object> report, PrintWriter out) throws IOException {
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            printText(report, out);
        }
        out.flush();
    }

    /**
     * A molora router file ({@code general.type = router}): what it routes to and was trained on, read and checked
     * as {@code --router} reads it; with {@code --model}, whether it was trained on that base. Returns the problems.
     */
    private List<String> describeRouter(Map<String, Object> r) throws IOException {
        List<String> problems = new ArrayList<>();
        RouterFile.Loaded loaded;
        try {
            loaded = RouterFile.read(file);
        } catch (LlamaException e) {
            problems.add(e.getMessage());
            r.put("problems", problems);
            return problems;
        }
        RouterFile.Identity id = loaded.identity();
        r.put("features", id.features());
        r.put("adapters", id.adapters());
        r.put("base_name", id.baseName());
        r.put("base_token_embd_sha256", id.baseSha256());
        r.put("inputs", loaded.gate().inputs());
        r.put("hidden", loaded.gate().hidden());
        r.put("outputs", loaded.gate().outputs());
        if (base != null) {
            try (TokenEmbeddings emb = TokenEmbeddings.open(base)) {
                if (!emb.sha256().equals(id.baseSha256())) {
                    problems.add("router " + file + " was trained on a base model with other token embeddings than "
                            + base);
                }
            }
            r.put("base_model", base.toString());
            r.put("compatible", problems.isEmpty());
        }
        r.put("problems", problems);
        return problems;
    }

    private static GgufFile open(Path path) throws IOException {
        io.molora.runtime.Model.checkGgufFile(path, "input");
        return GgufFile.open(path);
    }

    private static void describeModel(ModelInfo m, Map<String, Object> r) {
        r.put("architecture", m.architecture());
        r.put("name", m.name());
        r.put("parameters", m.parameterCount());
        r.put("context_length", m.contextLength());
        r.put("embedding_length", m.embeddingLength());
        r.put("layers", m.blockCount());
        r.put("vocab_size", m.vocabSize());
        r.put("file_type", m.fileType());
        r.put("chat_template", m.chatTemplate().isPresent());
        Map<String, Object> mix = new LinkedHashMap<>();
        for (Map.Entry<GgmlType, TypeUsage> e : m.quantizationMix().entrySet()) {
            mix.put(e.getKey().name(), Map.of("tensors", e.getValue().tensors(), "bytes", e.getValue().bytes()));
        }
        r.put("quantization", mix);
    }

    private static void describeAdapter(AdapterInfo a, Map<String, Object> r) {
        r.put("adapter_type", a.adapterType());
        r.put("architecture", a.architecture());
        r.put("alpha", a.alpha());
        TreeSet<Long> ranks = new TreeSet<>();
        List<String> targets = new ArrayList<>();
        for (LoraPair p : a.pairs()) {
            if (p.complete()) {
                ranks.add(p.rank());
            }
            targets.add(p.baseTensor());
        }
        r.put("ranks", List.copyOf(ranks));
        r.put("tensors_targeted", targets.size());
        r.put("targets", targetKinds(targets));
        if (!a.unexpectedTensors().isEmpty()) {
            r.put("unexpected_tensors", a.unexpectedTensors());
        }
    }

    /** "blk.3.attn_q.weight" → "attn_q": which projections, not every layer's copy. */
    private static List<String> targetKinds(List<String> targets) {
        TreeSet<String> kinds = new TreeSet<>();
        for (String t : targets) {
            String s = t.replaceFirst("^blk\\.\\d+\\.", "").replaceFirst("\\.weight$", "");
            kinds.add(s);
        }
        return List.copyOf(kinds);
    }

    private static void printText(Map<String, Object> report, PrintWriter out) {
        for (Map.Entry<String, Object> e : report.entrySet()) {
            Object v = e.getValue();
            if (v instanceof Map<?, ?> m) {
                out.println(e.getKey() + ":");
                m.forEach((k, x) -> out.println("  " + k + ": " + x));
            } else if (v instanceof List<?> l && e.getKey().equals("problems")) {
                out.println("problems: " + (l.isEmpty() ? "none" : ""));
                l.forEach(p -> out.println("  - " + p));
            } else {
                out.println(e.getKey() + ": " + v);
            }
        }
    }
}
