package io.molora.engine.soak;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.ChatSession;
import io.molora.engine.ChatSettings;
import io.molora.engine.Completion;
import io.molora.engine.CompletionRequest;
import io.molora.engine.CompletionSettings;
import io.molora.engine.CompletionSink;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.GenerationRequest;
import io.molora.engine.Prompt;
import io.molora.engine.RouterSpec;
import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.ContextParams;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Native memory over many generations in one process (docs/RELIABILITY.md; scripts/memory-soak): one engine (a tiny
 * random-weight model, two random LoRA adapters, every adapter on every token), then N short generations, each on a
 * fresh context, sampler and decode path as {@code molora generate} makes them; every 100th step also a batch of
 * four requests ({@code complete}) and a two-turn chat. Every {@code --every} generations: the process's resident
 * memory (VmRSS), the Java heap in use after a GC, and the time. After a warm-up (the first tenth), resident memory
 * must stay flat: it may not grow by more than max(8 MiB, 2 %) from its lowest to its last sample. Exit 1 otherwise.
 *
 * <pre>java ... MemorySoak [--generations N (20000)] [--tokens T (8)] [--every K (1000)]</pre>
 */
public final class MemorySoak {
    private MemorySoak() {}

    public static void main(String[] args) throws IOException {
        int generations = 20_000;
        int tokens = 8;
        int every = 1_000;
        for (int i = 0; i < args.length; i += 2) {
            switch (args[i]) {
                case "--generations" -> generations = Integer.parseInt(args[i + 1]);
                case "--tokens" -> tokens = Integer.parseInt(args[i + 1]);
                case "--every" -> every = Integer.parseInt(args[i + 1]);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        PrintStream out = System.out;
        Path dir = Files.createTempDirectory("molora-soak");
        Path model = NativeTestSupport.writeTinyModel(dir, 7);
        List<AdapterSpec> adapters = List.of(
                new AdapterSpec("a", NativeTestSupport.writeLora(dir, LoraSpec.attention("a", 4, 1)), 1f),
                new AdapterSpec("b", NativeTestSupport.writeLora(dir, LoraSpec.attention("b", 8, 2)), 0.5f));
        EngineSpec spec = EngineSpec.of(model).withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(256).withThreads(1, 1))
                .withAdapters(adapters, new RouterSpec.AllAdapters());
        SamplerParams sampling = SamplerParams.defaults();
        List<long[]> samples = new ArrayList<>();  // generations, rss kB, heap kB, ms
        long t0 = System.nanoTime();
        long generated = 0;
        int batches = 0;
        int chats = 0;
        out.println("generations\tseconds\trss_kib\theap_kib\ttokens");
        try (Engine engine = Engine.open(spec)) {
            for (int i = 1; i <= generations; i++) {
                generated += engine.generate(new GenerationRequest("Prompt number " + i + " says", tokens, sampling,
                        false), (t, r) -> { }).tokens().length;
                if (i % 100 == 0) {
                    batches++;
                    List<CompletionRequest> reqs = new ArrayList<>();
                    for (int j = 0; j < 4; j++) {
                        reqs.add(new CompletionRequest("r" + j, new Prompt.Text("Request " + j + " of " + i), tokens,
                                sampling));
                    }
                    engine.complete(reqs, new CompletionSettings(4, Optional.empty(), false), new CompletionSink() {
                        @Override
                        public void completed(Completion c) {}

                        @Override
                        public void failed(CompletionRequest request, String message) {
                            throw new IllegalStateException("request failed: " + message);
                        }
                    });
                    chats++;
                    try (ChatSession chat = engine.chat(ChatSettings.defaults().withTemplate("chatml")
                            .withMaxTokens(tokens))) {
                        chat.send("Hello " + i, t -> { }, () -> false);
                        chat.send("And then?", t -> { }, () -> false);
                    }
                }
                if (i % every == 0) {
                    System.gc();
                    Runtime rt = Runtime.getRuntime();
                    long[] s = {i, rssKib(), (rt.totalMemory() - rt.freeMemory()) / 1024,
                            (System.nanoTime() - t0) / 1_000_000};
                    samples.add(s);
                    out.printf("%d\t%.1f\t%d\t%d\t%d%n", s[0], s[3] / 1000.0, s[1], s[2], generated);
                    out.flush();
                }
            }
        }
        // flat: after the warm-up, the last sample against the lowest
        int warm = Math.max(1, samples.size() / 10);
        List<long[]> after = samples.subList(warm, samples.size());
        long low = after.stream().mapToLong(s -> s[1]).min().orElseThrow();
        long high = after.stream().mapToLong(s -> s[1]).max().orElseThrow();
        long last = after.get(after.size() - 1)[1];
        long allowed = Math.max(8 * 1024, low / 50);
        // least-squares slope of RSS over generations, after the warm-up, in KiB per 10 000 generations
        double mx = after.stream().mapToDouble(s -> s[0]).average().orElseThrow();
        double my = after.stream().mapToDouble(s -> s[1]).average().orElseThrow();
        double num = 0;
        double den = 0;
        for (long[] s : after) {
            num += (s[0] - mx) * (s[1] - my);
            den += (s[0] - mx) * (s[0] - mx);
        }
        double slope = den == 0 ? 0 : num / den * 10_000;
        boolean flat = last - low <= allowed;
        out.printf("# %d generations (%d tokens generated), %d batches of 4, %d two-turn chats, %.0f s%n", generations,
                generated, batches, chats, (System.nanoTime() - t0) / 1e9);
        out.printf("# rss after warm-up (sample %d on): low %d KiB, high %d KiB, last %d KiB; last - low = %d KiB "
                + "(allowed %d); slope %.1f KiB per 10 000 generations%n", warm + 1, low, high, last, last - low,
                allowed, slope);
        out.println(flat ? "# flat" : "# GROWING");
        System.exit(flat ? 0 : 1);
    }

    private static long rssKib() throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", ""));
            }
        }
        throw new IllegalStateException("no VmRSS in /proc/self/status");
    }
}
