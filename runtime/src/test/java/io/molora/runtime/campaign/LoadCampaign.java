package io.molora.runtime.campaign;

import io.molora.gguf.GgmlType;
import io.molora.gguf.GgufFile;
import io.molora.gguf.LoraCompatibility;
import io.molora.gguf.ModelCheck;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.gguf.synth.SyntheticLora;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.LlamaException;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The load campaign: mutates the headers of valid model and adapter files ({@link HeaderMutator}), runs molora's
 * Java validation on each ({@link Model#checkModelFile}, {@link LoraAdapter#checkFits}), and hands every file it
 * accepts to one long-lived child JVM ({@link LoadProbe}) that loads it natively, creates a context and decodes.
 * A child that dies (abort, signal, JVM crash) is counted with the file it was working on, which is kept under
 * {@code OUT/findings/}; then a fresh child takes over. The claim it checks: every accepted file loads or is refused
 * cleanly, never takes the process down.
 *
 * <pre>
 * scripts/load-campaign [--files N] [--seed S] [--out DIR]     (see docs/RELIABILITY.md)
 * </pre>
 */
public final class LoadCampaign {
    /** The counts the campaign reports. */
    public record Result(int files, int models, int adapters, int rejectedByReader, Map<String, Integer> rejectedByRule,
                         int accepted, int nativeOk, Map<String, Integer> nativeRefused, int aborts, int signals,
                         int timeouts, int hsErrFiles, List<String> findings, Map<String, int[]> control,
                         long millis) {
        public int rejected() {
            return rejectedByReader + rejectedByRule.values().stream().mapToInt(Integer::intValue).sum();
        }
    }

    private record Seed(String name, SeedFile file, boolean adapter, Path base) {}

    private static final int JOBS_PER_CHILD = 400;
    private static final long ANSWER_TIMEOUT_S = 180;

    private final Path nativeDir;
    private final Path out;
    private final Path work;
    private final PrintStream log;
    private final Child checked;
    private final Child unchecked;

    private LoadCampaign(Path nativeDir, Path out, PrintStream log) throws IOException {
        this.nativeDir = nativeDir;
        this.out = out;
        this.log = log;
        Path shm = Path.of("/dev/shm");
        this.work = Files.createTempDirectory(Files.isDirectory(shm) && Files.isWritable(shm) ? shm
                : Path.of(System.getProperty("java.io.tmpdir")), "molora-campaign-");
        Files.createDirectories(out.resolve("findings"));
        this.checked = new Child(out.resolve("checked"));
        this.unchecked = new Child(out.resolve("control"));
    }

    /** Runs {@code files} mutants from {@code seed}; results and findings go under {@code out}. */
    public static Result run(Path nativeDir, int files, long seed, int control, Path out, PrintStream log)
            throws Exception {
        LoadCampaign c = new LoadCampaign(nativeDir, out, log);
        try {
            return c.campaign(files, seed, control);
        } finally {
            c.checked.stop();
            c.unchecked.stop();
            try (Stream<Path> s = Files.walk(c.work)) {
                s.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * @param control how many rule-rejected files to also load natively without the checks (each rule's evidence:
     *                does llama.cpp abort on it, refuse it, or run it?); those runs are not findings
     */
    private Result campaign(int files, long seed, int control) throws Exception {
        long start = System.nanoTime();
        List<Seed> seeds = seeds();
        SplittableRandom random = new SplittableRandom(seed);
        int models = 0;
        int adapters = 0;
        int reader = 0;
        int accepted = 0;
        int ok = 0;
        int aborts = 0;
        int signals = 0;
        int timeouts = 0;
        Map<String, Integer> byRule = new TreeMap<>();
        Map<String, Integer> refused = new TreeMap<>();
        List<String> findings = new ArrayList<>();
        Map<String, int[]> controls = new TreeMap<>();
        int controlLeft = control;
        Path mutant = work.resolve("mutant.gguf");
        try (Writer results = Files.newBufferedWriter(out.resolve("results.tsv"), StandardCharsets.UTF_8)) {
            results.write("index\tseed\tverdict\tdetail\tedits\n");
            for (int i = 0; i < files; i++) {
                // models 60 %, adapters 40 %
                Seed s = random.nextInt(10) < 6 ? pick(seeds, false, random) : pick(seeds, true, random);
                if (s.adapter()) {
                    adapters++;
                } else {
                    models++;
                }
                HeaderMutator.Mutant m = new HeaderMutator(random.split(), "llama", 2, s.adapter()).mutate(s.file().header);
                s.file().write(mutant, m.header());
                String edits = String.join("; ", m.edits());
                String verdict;
                String detail;
                String rejection = validate(s, mutant);
                if (rejection != null) {
                    if (rejection.equals(READER)) {
                        reader++;
                    } else {
                        byRule.merge(rejection, 1, Integer::sum);
                    }
                    verdict = "rejected";
                    detail = rejection;
                    if (!rejection.equals(READER) && controlLeft > 0) {
                        controlLeft--;
                        String a = unchecked.ask(s.adapter() ? "rawadapter\t" + s.base() + "\t" + mutant : "rawmodel\t" + mutant);
                        int[] c = controls.computeIfAbsent(rejection, k -> new int[3]);
                        String outcome = a == null || a.startsWith("died") ? "would crash" : a.startsWith("ok")
                                ? "would run" : "would be refused";
                        c[a == null || a.startsWith("died") ? 2 : a.startsWith("ok") ? 0 : 1]++;
                        detail += " (unchecked: " + outcome + (a != null && a.startsWith("died") ? " " + a.substring(5)
                                + ", " + unchecked.stderrTail() : "") + ")";
                    }
                } else {
                    accepted++;
                    String job = s.adapter() ? "adapter\t" + s.base() + "\t" + mutant : "model\t" + mutant;
                    String answer = checked.ask(job);
                    if (answer == null || answer.startsWith("died")) {
                        String kind = answer == null ? "timeout" : answer;
                        int code = answer == null ? -1 : Integer.parseInt(answer.substring(5).trim());
                        if (answer == null) {
                            timeouts++;
                        } else if (code == 134) {
                            aborts++;
                        } else {
                            signals++;
                        }
                        Path kept = out.resolve("findings").resolve("finding-" + i + ".gguf");
                        Files.copy(mutant, kept, StandardCopyOption.REPLACE_EXISTING);
                        String f = "#" + i + " (" + s.name() + ") " + kind + ": " + edits + " | " + checked.stderrTail();
                        findings.add(f);
                        Files.writeString(out.resolve("findings").resolve("finding-" + i + ".txt"), f + "\n");
                        log.println("FINDING " + f);
                        verdict = kind;
                        detail = "";
                    } else if (answer.startsWith("ok")) {
                        ok++;
                        verdict = "loaded";
                        detail = answer.substring(3);
                    } else {
                        String why = refusalKind(answer.substring(8));
                        refused.merge(why, 1, Integer::sum);
                        verdict = "refused natively";
                        detail = why;
                    }
                }
                results.write(i + "\t" + s.name() + "\t" + verdict + "\t" + detail + "\t"
                        + edits.replace('\t', ' ').replace('\n', ' ') + "\n");
                if ((i + 1) % 500 == 0) {
                    log.printf("%d/%d files: %d accepted, %d loaded, %d findings (%.0f s)%n", i + 1, files, accepted,
                            ok, findings.size(), (System.nanoTime() - start) / 1e9);
                    results.flush();
                }
            }
        }
        checked.stop();
        unchecked.stop();
        int hsErr = checked.hsErrFiles();
        Result r = new Result(files, models, adapters, reader, byRule, accepted, ok, refused, aborts, signals,
                timeouts, hsErr, findings, controls, (System.nanoTime() - start) / 1_000_000);
        Files.writeString(out.resolve("summary.txt"), summary(r, seed));
        return r;
    }

    // ---- the seeds: three base models (SPM F32, SPM Q8_0, BPE F16) and three adapters on the first ----

    private List<Seed> seeds() throws IOException, InterruptedException {
        Path src = nativeDir.resolve("src");
        TokenizerMetadata spm = TokenizerMetadata.load(TokenizerMetadata.llamaSpmVocab(src));
        TokenizerMetadata bpe = TokenizerMetadata.load(src.resolve("models").resolve("ggml-vocab-gpt-2.gguf"));
        LlamaConfig tiny = LlamaConfig.tiny(spm.vocabSize());
        Path f32 = work.resolve("seed-spm-f32.gguf");
        SyntheticModel.of(tiny, spm, 5).write(f32);
        Path q8 = work.resolve("seed-spm-q8_0.gguf");
        SyntheticModel.of(tiny.withWeightType(GgmlType.Q8_0), spm, 6).write(q8);
        Path gpt2 = work.resolve("seed-bpe-f16.gguf");
        SyntheticModel.of(LlamaConfig.tiny(bpe.vocabSize()).withWeightType(GgmlType.F16), bpe, 7).write(gpt2);
        Path attn = work.resolve("seed-lora-attn.gguf");
        SyntheticLora.random(tiny, LoraSpec.attention("attn", 4, 1)).write(attn);
        Path all = work.resolve("seed-lora-all-f16.gguf");
        SyntheticLora.random(tiny, new LoraSpec("all", 8, 16f, EnumSet.allOf(LoraTarget.class), 2, 1f, GgmlType.F16))
                .write(all);
        Path boost = work.resolve("seed-lora-boost.gguf");
        SyntheticLora.tokenBoost(tiny, "boost", Set.of(1234), 100f, GgmlType.F32).write(boost);
        List<Seed> seeds = new ArrayList<>();
        for (Path p : List.of(f32, q8, gpt2)) {
            seeds.add(new Seed(p.getFileName().toString(), SeedFile.read(p), false, null));
        }
        for (Path p : List.of(attn, all, boost)) {
            seeds.add(new Seed(p.getFileName().toString(), SeedFile.read(p), true, f32));
        }
        // every seed must pass as it is, or the campaign measures nothing
        for (Seed s : seeds) {
            String r = validate(s, s.file().path);
            if (r != null) {
                throw new IllegalStateException("seed " + s.name() + " is rejected: " + r);
            }
            String a = checked.ask(s.adapter() ? "adapter\t" + s.base() + "\t" + s.file().path
                    : "model\t" + s.file().path);
            if (a == null || !a.startsWith("ok")) {
                throw new IllegalStateException("seed " + s.name() + " does not load: " + a + " " + checked.stderrTail());
            }
        }
        return seeds;
    }

    private static Seed pick(List<Seed> seeds, boolean adapter, SplittableRandom random) {
        List<Seed> kind = seeds.stream().filter(s -> s.adapter() == adapter).toList();
        return kind.get(random.nextInt(kind.size()));
    }

    // ---- the Java side: exactly what molora runs before a load ----

    private static final String READER = "GGUF format (reader)";

    /** Null when molora accepts the file; else the rule that refused it. */
    private static String validate(Seed s, Path file) {
        try {
            if (s.adapter()) {
                LoraAdapter.checkFits(s.base(), "probe", file);
            } else {
                Model.checkModelFile(file);
            }
            return null;
        } catch (LlamaException e) {
            if (e.getMessage().contains("is not valid GGUF") || e.getMessage().contains("not GGUF")) {
                return READER;
            }
            return rule(s, file);
        }
    }

    /** The first problem's key, with the layer index and architecture folded, as the count's name. */
    private static String rule(Seed s, Path file) {
        try (GgufFile f = GgufFile.open(file)) {
            if (s.adapter()) {
                try (GgufFile base = GgufFile.open(s.base())) {
                    LoraCompatibility.Problem p = LoraCompatibility.check(base, f).get(0);
                    if (!p.tensor().isEmpty()) {
                        return "adapter: tensor " + (p.message().startsWith("unexpected suffix") ? "name" : "shape or pair");
                    }
                    String message = "adapter: " + p.message().replaceAll(" in /[^ ]*", "").replaceAll("'[^']*'", "X")
                            .replaceAll(" but is .*", "").replaceAll(" = [^:]*:", ":");
                    return numbers(message);
                }
            }
            ModelCheck.Problem p = ModelCheck.check(f).get(0);
            String key = p.key().replaceAll("\\[\\d+]", "[i]");
            return key + (key.startsWith("tokenizer.ggml.tokens[") ? "" : " (" + numbers(p.rule())
                    .replaceAll(" but is .*", "") + ")");
        } catch (IOException | RuntimeException e) {
            return "other: " + e.getMessage();
        }
    }

    private static String refusalKind(String message) {
        return numbers(message.replaceAll("/[^ ]*", "FILE"));
    }

    /** Numbers as N, so that counts group by rule: not digits inside names (FLOAT32, gpt2, v0.5.0). */
    private static String numbers(String s) {
        return s.replaceAll("(?<![A-Za-z._\\d])-?\\d+(\\.\\d+)?(E-?\\d+)?", "N");
    }

    // ---- the children: one for checked loads, one for the control runs, each with its own hs_err folder ----

    /** One child JVM running {@link LoadProbe}; replaced when it dies and after {@link #JOBS_PER_CHILD} jobs. */
    private final class Child {
        private final Path dir;
        private Process process;
        private Writer in;
        private BlockingQueue<String> answers;
        private int jobs;
        private int started;

        Child(Path dir) {
            this.dir = dir;
        }

        /** The answer, "died EXIT" when the child ended, or null after ANSWER_TIMEOUT_S (the child is then killed). */
        String ask(String job) throws IOException, InterruptedException {
            if (process == null || jobs >= JOBS_PER_CHILD) {
                stop();
                start();
            }
            jobs++;
            try {
                in.write(job + "\n");
                in.flush();
            } catch (IOException e) {
                // died between jobs: the pipe is closed, the reader reports the end
            }
            String a = answers.poll(ANSWER_TIMEOUT_S, TimeUnit.SECONDS);
            if (a == null) {
                process.destroyForcibly().waitFor();
                process = null;
                return null;
            }
            if (a.equals(EOF)) {
                process.waitFor();
                int code = process.exitValue();
                process = null;
                return "died " + code;
            }
            return a;
        }

        private void start() throws IOException {
            started++;
            Files.createDirectories(dir);
            List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-XX:+UseSerialGC", "-Xmx512m",
                    "-XX:ErrorFile=" + dir.toAbsolutePath().resolve("hs_err_pid%p.log"),
                    "-Dmolora.native.dir=" + nativeDir, "-cp", absoluteClassPath(), LoadProbe.class.getName());
            ProcessBuilder pb = new ProcessBuilder(cmd).redirectError(stderrFile().toFile()).directory(dir.toFile());
            pb.environment().put("GGML_NO_BACKTRACE", "1");
            process = pb.start();
            jobs = 0;
            in = new java.io.OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            BlockingQueue<String> q = new LinkedBlockingQueue<>();
            answers = q;
            BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
            Thread reader = new Thread(() -> {
                try {
                    String line;
                    while ((line = r.readLine()) != null) {
                        if (line.startsWith(LoadProbe.MARK)) {
                            q.add(line.substring(LoadProbe.MARK.length()));
                        }
                    }
                } catch (IOException e) {
                    // the child is gone
                }
                q.add(EOF);
            }, "campaign-child-" + dir.getFileName() + "-" + started);
            reader.setDaemon(true);
            reader.start();
        }

        void stop() {
            if (process == null) {
                return;
            }
            try {
                in.close();
                if (!process.waitFor(30, TimeUnit.SECONDS)) {
                    process.destroyForcibly().waitFor();
                }
            } catch (IOException | InterruptedException e) {
                process.destroyForcibly();
            }
            process = null;
        }

        Path stderrFile() {
            return work.resolve(dir.getFileName() + "-stderr.log");
        }

        /** The last lines the child wrote to stderr (llama.cpp's assertion message, for one). */
        String stderrTail() {
            try {
                List<String> lines = Files.readAllLines(stderrFile(), StandardCharsets.ISO_8859_1);
                return String.join(" / ", lines.subList(Math.max(0, lines.size() - 3), lines.size()));
            } catch (IOException e) {
                return "";
            }
        }

        int hsErrFiles() throws IOException {
            if (!Files.isDirectory(dir)) {
                return 0;
            }
            try (Stream<Path> s = Files.list(dir)) {
                return (int) s.filter(p -> p.getFileName().toString().startsWith("hs_err")).count();
            }
        }
    }

    private static final String EOF = "\u0000eof";

    /** The children run in their own folders (where hs_err files land), so the class path must not be relative. */
    private static String absoluteClassPath() {
        return java.util.Arrays.stream(System.getProperty("java.class.path").split(java.io.File.pathSeparator))
                .map(p -> Path.of(p).toAbsolutePath().toString())
                .collect(java.util.stream.Collectors.joining(java.io.File.pathSeparator));
    }

    // ---- report ----

    static String summary(Result r, long seed) {
        StringBuilder b = new StringBuilder();
        b.append("load campaign, seed ").append(seed).append(", ").append(r.millis() / 1000).append(" s\n");
        b.append("files ").append(r.files()).append(" (models ").append(r.models()).append(", adapters ")
                .append(r.adapters()).append(")\n");
        b.append("rejected by the reader (not GGUF) ").append(r.rejectedByReader()).append('\n');
        b.append("rejected by a rule ").append(r.rejected() - r.rejectedByReader()).append('\n');
        r.rejectedByRule().entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .forEach(e -> b.append("  ").append(e.getValue()).append("  ").append(e.getKey()).append('\n'));
        b.append("accepted, loaded natively ").append(r.accepted()).append('\n');
        b.append("  ran (load + context + decode + 3 tokens) ").append(r.nativeOk()).append('\n');
        b.append("  refused cleanly by llama.cpp ").append(r.accepted() - r.nativeOk() - r.aborts() - r.signals()
                - r.timeouts()).append('\n');
        r.nativeRefused().entrySet().stream().sorted(Map.Entry.<String, Integer>comparingByValue().reversed())
                .forEach(e -> b.append("    ").append(e.getValue()).append("  ").append(e.getKey()).append('\n'));
        b.append("aborts ").append(r.aborts()).append(", other signals ").append(r.signals()).append(", timeouts ")
                .append(r.timeouts()).append(", hs_err files ").append(r.hsErrFiles()).append('\n');
        r.findings().forEach(f -> b.append("  ").append(f).append('\n'));
        if (!r.control().isEmpty()) {
            b.append("control: rule-rejected files loaded natively without the checks (run / refused / crashed)\n");
            r.control().forEach((rule, c) -> b.append("  ").append(c[0]).append(" / ").append(c[1]).append(" / ")
                    .append(c[2]).append("  ").append(rule).append('\n'));
        }
        return b.toString();
    }

    public static void main(String[] args) throws Exception {
        int files = 10_000;
        long seed = 20261201L;
        int control = 0;
        Path out = Path.of("target", "load-campaign");
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--files" -> files = Integer.parseInt(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                case "--control" -> control = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: LoadCampaign [--files N] [--seed S] [--control N] [--out DIR]");
                    System.exit(2);
                }
            }
        }
        String dir = System.getProperty("molora.native.dir");
        if (dir == null || dir.isBlank()) {
            System.err.println("set -Dmolora.native.dir (native-build/build.sh --print-dir)");
            System.exit(2);
        }
        Files.createDirectories(out);
        Result r = run(Path.of(dir), files, seed, control, out, System.out);
        System.out.print(summary(r, seed));
        System.exit(r.aborts() + r.signals() + r.timeouts() + r.hsErrFiles() == 0 ? 0 : 1);
    }
}
