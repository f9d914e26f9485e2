package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufArray;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufTensorInfo;
import io.molora.gguf.GgufValue;
import io.molora.gguf.GgufWriter;
import io.molora.gguf.TensorSources;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.campaign.LoadProbe;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * One test per model or adapter file found to abort the process (issue 13, the load campaign): each file, loaded by
 * llama.cpp without molora's checks in a child JVM, really ends that JVM (exit 134); the real CLI, in a child JVM,
 * refuses it with exit 1 and one line naming the key and its value, leaves no hs_err file, and {@code inspect} lists
 * the same problem. Everything runs in child processes: a regression here must fail the test, not kill the suite.
 */
class HostileModelFilesTest {
    @TempDir
    static Path dir;
    private static Path model;
    private static Path adapter;

    @BeforeAll
    static void files() throws IOException {
        model = NativeTestSupport.writeTinyModel(dir, 5);
        adapter = NativeTestSupport.writeLora(dir, LoraSpec.attention("code", 4, 1));
    }

    /** A copy of {@code source} with its metadata edited (tensors unchanged). */
    static Path variant(Path source, String name, Consumer<Map<String, GgufValue>> edit) throws IOException {
        Path out = dir.resolve(name + ".gguf");
        try (GgufFile f = GgufFile.open(source)) {
            Map<String, GgufValue> meta = new LinkedHashMap<>(f.metadata());
            edit.accept(meta);
            GgufWriter w = new GgufWriter().putAll(meta);
            for (GgufTensorInfo t : f.tensors()) {
                w.addTensor(t.name(), t.type(), t.shape(), TensorSources.ofSegment(f.tensorData(t)));
            }
            w.write(out);
        }
        return out;
    }

    /** A copy of {@code source} with one tensor's type changed to one of the same byte size (data unchanged). */
    static Path retyped(Path source, String name, String tensor, GgmlType type) throws IOException {
        Path out = dir.resolve(name + ".gguf");
        try (GgufFile f = GgufFile.open(source)) {
            GgufWriter w = new GgufWriter().putAll(f.metadata());
            for (GgufTensorInfo t : f.tensors()) {
                w.addTensor(t.name(), t.name().equals(tensor) ? type : t.type(), t.shape(),
                        TensorSources.ofSegment(f.tensorData(t)));
            }
            w.write(out);
        }
        return out;
    }

    record Child(int exit, String out, String err, List<Path> hsErr) {}

    /** Runs {@code main} in a child JVM in a fresh folder (where an hs_err file would land), stdin from {@code input}. */
    static Child java(String name, String input, String main, String... args) throws Exception {
        Path cwd = Files.createDirectories(dir.resolve("run-" + name));
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Xss4m",
                "-Dmolora.native.dir=" + NativeTestSupport.nativeDir(),
                "-cp", classPath(), main));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile())
                .redirectOutput(cwd.resolve("out.txt").toFile()).redirectError(cwd.resolve("err.txt").toFile());
        pb.environment().put("GGML_NO_BACKTRACE", "1");
        Process p = pb.start();
        p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        p.getOutputStream().close();
        assertTrue(p.waitFor(180, TimeUnit.SECONDS), name + " did not finish");
        List<Path> hsErr;
        try (Stream<Path> s = Files.list(cwd)) {
            hsErr = s.filter(f -> f.getFileName().toString().startsWith("hs_err")).toList();
        }
        return new Child(p.exitValue(), Files.readString(cwd.resolve("out.txt")), Files.readString(cwd.resolve("err.txt")),
                hsErr);
    }

    private static String classPath() {
        return Stream.of(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .map(p -> Path.of(p).toAbsolutePath().toString())
                .collect(java.util.stream.Collectors.joining(java.io.File.pathSeparator));
    }

    /** What llama.cpp does with the file when nothing checks it first (LoadProbe, "rawmodel" / "rawadapter"). */
    static Child unchecked(String name, String job) throws Exception {
        return java(name + "-unchecked", job + "\n", LoadProbe.class.getName());
    }

    static Child cli(String name, String... args) throws Exception {
        return java(name + "-cli", "", Main.class.getName(), args);
    }

    /** The CLI's refusal: exit 1, one error line with the problem, nothing generated, no hs_err file. */
    static void refusedInOneLine(Child c, String problem) {
        assertEquals(1, c.exit(), c.err());
        List<String> errors = c.err().lines().filter(l -> l.startsWith("molora: error: ")).toList();
        assertEquals(1, errors.size(), c.err());
        assertTrue(errors.get(0).contains(problem), errors.get(0));
        assertEquals("", c.out(), "nothing on stdout");
        assertEquals(List.of(), c.hsErr());
    }

    static Stream<Arguments> models() {
        return Stream.of(
                finding("block-count-0", "llama.block_count = 0: must be 1 to 512",
                        m -> m.put("llama.block_count", GgufValue.ofUint32(0))),
                finding("block-count-1000", "llama.block_count = 1000: must be 1 to 512",
                        m -> m.put("llama.block_count", GgufValue.ofUint32(1000))),
                finding("eps-nan", "llama.attention.layer_norm_rms_epsilon = NaN: must be a finite number >= 0",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(Float.NaN))),
                finding("eps-negative", "llama.attention.layer_norm_rms_epsilon = -1.0: must be a finite number >= 0",
                        m -> m.put("llama.attention.layer_norm_rms_epsilon", GgufValue.of(-1f))),
                finding("rope-scaling", "llama.rope.scaling.type = 'bogus': must be one of none, linear, yarn, longrope",
                        m -> m.put("llama.rope.scaling.type", GgufValue.of("bogus"))),
                finding("nextn", "llama.nextn_predict_layers = 3: must not exceed block_count 2",
                        m -> m.put("llama.nextn_predict_layers", GgufValue.ofUint32(3))),
                finding("experts", "llama.expert_count = 2000: must not exceed 1024",
                        m -> m.put("llama.expert_count", GgufValue.ofUint32(2000))),
                finding("experts-used", "llama.expert_used_count = 2: must not exceed expert_count 0",
                        m -> m.put("llama.expert_used_count", GgufValue.ofUint32(2))),
                finding("duplicate-token", "tokenizer.ggml.tokens[1000] = '<unk>': appears twice",
                        m -> tokens(m, t -> t.set(1000, t.get(0)))),
                // found by the load campaign: llama.cpp reads a token up to its first NUL byte
                finding("nul-in-token", "tokenizer.ggml.tokens[1000] = '<unk>': appears twice",
                        m -> tokens(m, t -> t.set(1000, t.get(0) + "\u0000tail"))),
                finding("no-newline-byte", "tokenizer.ggml.tokens = '<0x0A>' missing",
                        m -> tokens(m, t -> t.set(t.indexOf("<0x0A>"), "<0x0A>?"))));
    }

    private static Arguments finding(String name, String problem, Consumer<Map<String, GgufValue>> edit) {
        return Arguments.of(name, problem, edit);
    }

    private static void tokens(Map<String, GgufValue> m, Consumer<List<String>> edit) {
        List<String> t = new ArrayList<>(m.get("tokenizer.ggml.tokens").asArray().strings());
        edit.accept(t);
        m.put("tokenizer.ggml.tokens", GgufValue.of(GgufArray.ofStrings(t)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("models")
    void aModelThatWouldAbortIsRefusedInOneLine(String name, String problem, Consumer<Map<String, GgufValue>> edit)
            throws Exception {
        Path file = variant(model, name, edit);
        Child raw = unchecked(name, "rawmodel\t" + file);
        assertEquals(134, raw.exit(), "without the check llama.cpp aborts: " + raw.err());

        refusedInOneLine(cli(name, "generate", "-m", file.toString(), "-p", "a\nb", "-n", "2", "-t", "1"), problem);

        CliTest.Run inspect = CliTest.run("inspect", file.toString());
        assertEquals(1, inspect.exit(), inspect.err());
        assertTrue(inspect.out().contains("  - " + problem), inspect.out());
    }

    @Test
    void nonCausalAttentionAbortsOnAPromptLongerThanAUbatch() throws Exception {
        Path file = variant(model, "non-causal", m -> m.put("llama.attention.causal", GgufValue.of(false)));
        assertEquals("ok", unchecked("non-causal-short", "rawmodel\t" + file).out().split("\t")[0]
                .replace(LoadProbe.MARK, ""), "a short prompt runs");
        Child raw = unchecked("non-causal-long", "rawmodel\t" + file + "\t60");
        assertEquals(134, raw.exit(), "a prompt of more than 512 tokens aborts: " + raw.err());
        refusedInOneLine(cli("non-causal", "generate", "-m", file.toString(), "-p", "hi", "-n", "2", "-t", "1"),
                "llama.attention.causal = false: molora generates text");
    }

    @Test
    void tensorTypesTheCpuCannotComputeWithAreRefused() throws Exception {
        // found by the load campaign: llama.cpp checks shapes, not types; ggml aborts in the first op
        Path norm = retyped(model, "norm-i32", "output_norm.weight", GgmlType.I32);
        Child raw = unchecked("norm-i32", "rawmodel\t" + norm);
        assertEquals(134, raw.exit(), raw.err());
        assertTrue(raw.err().contains("binary_op: unsupported types"), raw.err());
        refusedInOneLine(cli("norm-i32", "generate", "-m", norm.toString(), "-p", "hi", "-n", "2", "-t", "1"),
                "output_norm.weight = I32: a tensor of one row must be F32");

        Path lora = retyped(adapter, "lora-i32", "blk.0.attn_q.weight.lora_a", GgmlType.I32);
        Child rawLora = unchecked("lora-i32", "rawadapter\t" + model + "\t" + lora);
        assertEquals(134, rawLora.exit(), rawLora.err());
        refusedInOneLine(cli("lora-i32", "generate", "-m", model.toString(), "--lora", "a=" + lora, "-p", "hi", "-n",
                "2", "-t", "1"), "blk.0.attn_q.weight.lora_a: type I32: ggml's CPU backend has no matrix product");
    }

    @Test
    void tensorDataOffGgmlsAlignmentIsRefused() throws Exception {
        // found by the load campaign: general.alignment = 2 put the mapped tensor data off ggml's 32-byte alignment
        Path file;
        for (int pad = 0; ; pad++) {
            String name = "x".repeat(pad);
            file = variant(model, "align-8", m -> {
                m.put("general.alignment", GgufValue.ofUint32(8));
                m.put("general.name", GgufValue.of(name));
            });
            try (GgufFile f = GgufFile.open(file)) {
                if (f.dataOffset() % 32 != 0) {
                    break;
                }
            }
        }
        Child raw = unchecked("align-8", "rawmodel\t" + file);
        assertEquals(134, raw.exit(), raw.err());
        assertTrue(raw.err().contains("buffer pointer must be aligned"), raw.err());
        refusedInOneLine(cli("align-8", "generate", "-m", file.toString(), "-p", "hi", "-n", "2", "-t", "1"),
                "general.alignment = 8: must be a multiple of 32");
    }

    @Test
    void aBpeVocabularyWithTheWhitespacePreTokenizerIsRefused() throws Exception {
        // found by the load campaign: BPE over text that keeps its spaces asserts in find_bpe_rank
        TokenizerMetadata gpt2 = TokenizerMetadata.load(NativeTestSupport.vocab("gpt-2"));
        Path bpe = dir.resolve("bpe.gguf");
        SyntheticModel.of(LlamaConfig.tiny(gpt2.vocabSize()).withWeightType(GgmlType.F16), gpt2, 7).write(bpe);
        Path file = variant(bpe, "pre-whitespace", m -> m.put("tokenizer.ggml.pre", GgufValue.of("whitespace")));
        Child raw = unchecked("pre-whitespace", "rawmodel\t" + file);
        assertEquals(134, raw.exit(), raw.err());
        assertTrue(raw.err().contains("find(' ') == std::string::npos"), raw.err());
        refusedInOneLine(cli("pre-whitespace", "generate", "-m", file.toString(), "-p", "hi there", "-n", "2", "-t", "1"),
                "tokenizer.ggml.pre = 'whitespace': the 'whitespace' pre-tokenizer keeps spaces");
    }

    static Stream<Arguments> adapters() {
        return Stream.of(
                finding("alpha-f64", "adapter.lora.alpha must be FLOAT32 but is FLOAT64",
                        m -> m.put("adapter.lora.alpha", GgufValue.of(4.0))),
                finding("adapter-type-int", "adapter.type in ", m -> m.put("adapter.type", GgufValue.ofUint32(1))),
                finding("general-type-int", "general.type in ", m -> m.put("general.type", GgufValue.ofUint32(1))));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("adapters")
    void anAdapterThatWouldAbortIsRefusedInOneLine(String name, String problem, Consumer<Map<String, GgufValue>> edit)
            throws Exception {
        Path file = variant(adapter, name, edit);
        Child raw = unchecked(name, "rawadapter\t" + model + "\t" + file);
        assertEquals(134, raw.exit(), "without the check llama.cpp aborts: " + raw.err());
        refusedInOneLine(cli(name, "generate", "-m", model.toString(), "--lora", "a=" + file, "-p", "hi", "-n", "2",
                "-t", "1"), problem);
        CliTest.Run inspect = CliTest.run("inspect", file.toString(), "--model", model.toString());
        assertEquals(1, inspect.exit(), inspect.err());
        assertTrue(inspect.out().contains(problem), inspect.out());
    }

    @Test
    void anAdapterWithAnAlphaOfNanOrInfinityIsRefused() throws Exception {
        for (float alpha : new float[] {Float.NaN, Float.POSITIVE_INFINITY}) {
            String name = "alpha-" + alpha;
            Path file = variant(adapter, name, m -> m.put("adapter.lora.alpha", GgufValue.of(alpha)));
            refusedInOneLine(cli(name, "generate", "-m", model.toString(), "--lora", "a=" + file, "-p", "hi", "-n",
                    "2", "-t", "1"), "adapter.lora.alpha = " + alpha + ": must be a finite number");
            CliTest.Run inspect = CliTest.run("inspect", file.toString());
            assertEquals(1, inspect.exit(), inspect.err());
            assertTrue(inspect.out().contains("adapter.lora.alpha = " + alpha), inspect.out());
        }
    }

    @Test
    void loraScalesThatAreNotFiniteOrAbsurdAreABadCommandLine() {
        for (String scale : new String[] {"1e30", "-1e30", "NaN", "Infinity", "10001"}) {
            CliTest.Run r = CliTest.run("generate", "-m", model.toString(), "--lora-scaled",
                    "a=" + adapter + ":" + scale, "-p", "hi", "-n", "2");
            assertEquals(2, r.exit(), scale + ": " + r.err());
            assertTrue(r.err().startsWith("Invalid value for option '--lora-scaled': scale of adapter 'a' must be"),
                    r.err());
        }
        CliTest.Run ok = CliTest.run("generate", "-m", model.toString(), "--lora-scaled", "a=" + adapter + ":-10000",
                "-p", "hi", "-n", "2", "-t", "1");
        assertEquals(0, ok.exit(), ok.err());
    }

    @Test
    void aQuantizedModelRunsOnACpuThatReportsAmx() throws Exception {
        TokenizerMetadata vocab = TokenizerMetadata.load(NativeTestSupport.vocab("llama-spm"));
        Path q8 = dir.resolve("q8_0.gguf");
        SyntheticModel.of(LlamaConfig.tiny(vocab.vocabSize()).withWeightType(GgmlType.Q8_0), vocab, 6).write(q8);
        Child c = cli("q8_0", "generate", "-m", q8.toString(), "-p", "Hello", "-n", "4", "-t", "1");
        assertEquals(0, c.exit(), c.err());
        assertTrue(c.out().startsWith("Hello") && c.out().length() > 5, c.out());
        assertEquals(List.of(), c.hsErr());
    }
}
