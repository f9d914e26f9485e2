package io.molora.runtime.campaign;

import io.molora.runtime.Batch;
import io.molora.runtime.Context;
import io.molora.runtime.ContextParams;
import io.molora.runtime.LoraAdapter;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.Tokenizer;
import io.molora.runtime.Unchecked;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The child process of {@link LoadCampaign}: reads one job per line from stdin and does, through molora's runtime,
 * what a user's first command does with the file, then answers one line on stdout:
 * <ul>
 * <li>{@code model<TAB>PATH}: load the model (CPU), create a context with molora's defaults (one thread), tokenize a
 *     prompt with special tokens, decode it, then generate three greedy tokens and render each;</li>
 * <li>{@code adapter<TAB>BASE<TAB>PATH}: load the adapter onto BASE (kept loaded between jobs), apply it at scale 1 on
 *     a fresh context and do the same decode and three tokens.</li>
 * </ul>
 * An optional last field repeats the prompt that many times. {@code rawmodel} and {@code rawadapter} do the same
 * without molora's Java checks (the campaign's control runs).
 * The answer, after {@link #MARK}, is {@code ok<TAB>detail} or {@code refused<TAB>message} (molora or llama.cpp refused cleanly). A job
 * that aborts or crashes the process gives no answer: the parent sees the process end and names the file.
 */
public final class LoadProbe {
    /** Starts every answer line: llama.cpp may print to the same stdout. */
    public static final String MARK = "@@probe ";
    private static final String PROMPT = "Hello world!\n  <s> 123 \u00fcn\u00efc\u00f6d\u00e9 \u65e5\u672c \ud83d\ude42 </s>";

    private static String prompt = PROMPT;

    private LoadProbe() {}

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        // llama.cpp writes to stdout in places; keep the protocol channel ours
        System.setOut(new PrintStream(java.io.OutputStream.nullOutputStream()));
        Map<Path, Model> bases = new HashMap<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] job = line.split("\t");
            String answer;
            try {
                boolean raw = job[0].startsWith("raw");
                // an optional last field repeats the prompt: longer than a ubatch (512 tokens) at 60
                int repeat = job.length > (job[0].endsWith("model") ? 2 : 3) ? Integer.parseInt(job[job.length - 1]) : 1;
                prompt = PROMPT.repeat(repeat);
                answer = "ok\t" + (job[0].endsWith("model") ? model(Path.of(job[1]), raw)
                        : adapter(bases.computeIfAbsent(Path.of(job[1]), LoadProbe::loadBase), Path.of(job[2]), raw));
            } catch (RuntimeException e) {
                answer = "refused\t" + String.valueOf(e.getMessage()).replace('\n', ' ').replace('\t', ' ');
            }
            out.println(MARK + answer);
        }
        bases.values().forEach(Model::close);
    }

    private static Model loadBase(Path p) {
        return Model.load(p, ModelParams.defaults());
    }

    private static ContextParams params() {
        return ContextParams.defaults().withThreads(1, 1);
    }

    private static String model(Path path, boolean raw) {
        try (Model m = raw ? Unchecked.loadModel(path, ModelParams.defaults()) : Model.load(path, ModelParams.defaults());
             Context ctx = Context.create(m, params())) {
            return run(m, ctx);
        }
    }

    private static String adapter(Model base, Path path, boolean raw) {
        try (LoraAdapter a = raw ? Unchecked.loadAdapter(base, "probe", path) : LoraAdapter.load(base, "probe", path);
             Context ctx = Context.create(base, params())) {
            ctx.setAdapters(List.of(a), new float[] {1f});
            return run(base, ctx);
        }
    }

    /** Prompt decode, then three greedy tokens, each rendered: the steps of every generation. */
    private static String run(Model m, Context ctx) {
        Tokenizer tok = m.tokenizer();
        int[] prompt = tok.tokenize(LoadProbe.prompt, true, true);
        if (prompt.length == 0) {
            prompt = new int[] {0};
        }
        StringBuilder text = new StringBuilder();
        try (Batch batch = new Batch(Math.max(prompt.length, 1))) {
            for (int i = 0; i < prompt.length; i++) {
                batch.add(prompt[i], i, 0, i == prompt.length - 1);
            }
            ctx.decode(batch);
            int pos = prompt.length;
            for (int step = 0; step < 3; step++) {
                float[] logits = ctx.logits(-1);
                int best = 0;
                for (int t = 1; t < logits.length; t++) {
                    if (logits[t] > logits[best]) {
                        best = t;
                    }
                }
                text.append(tok.piece(best));
                batch.clear();
                batch.add(best, pos++, 0, true);
                ctx.decode(batch);
            }
        }
        return prompt.length + " prompt tokens, generated " + text.length() + " chars";
    }
}
