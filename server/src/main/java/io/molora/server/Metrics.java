package io.molora.server;

import io.molora.engine.DecodeStats;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.IntSupplier;
import java.util.function.Supplier;

/**
 * The server's counters, written as Prometheus text (exposition format 0.0.4): requests by endpoint and status,
 * queue depth, sequences decoding, prompt and generated tokens, generated tokens per adapter, the generation rate
 * over the last ten seconds, and the batch loop's decodes (how many, their tokens, the sequences in them, their time:
 * {@code rate(molora_decode_busy_slots_total) / rate(molora_decodes_total)} is how full the batches are).
 */
final class Metrics {
    private static final int WINDOW_SECONDS = 10;

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, LongAdder> adapterTokens = new ConcurrentHashMap<>();
    private final LongAdder promptTokens = new LongAdder();
    private final LongAdder generatedTokens = new LongAdder();
    private final IntSupplier queued;
    private final IntSupplier active;
    private final Supplier<DecodeStats> decodes;
    // generated tokens per second of the last WINDOW_SECONDS seconds, as a ring
    private final long[] perSecond = new long[WINDOW_SECONDS];
    private final long[] secondOf = new long[WINDOW_SECONDS];

    Metrics(IntSupplier queued, IntSupplier active, Supplier<DecodeStats> decodes) {
        this.queued = queued;
        this.active = active;
        this.decodes = decodes;
    }

    void request(String endpoint, int status) {
        requests.computeIfAbsent(endpoint + "\u0000" + status, k -> new LongAdder()).increment();
    }

    void promptTokens(int n) {
        promptTokens.add(n);
    }

    /** {@code n} tokens were generated now. */
    void generated(int n) {
        generatedTokens.add(n);
        long second = System.nanoTime() / 1_000_000_000L;
        synchronized (perSecond) {
            int i = (int) (second % WINDOW_SECONDS);
            if (secondOf[i] != second) {
                secondOf[i] = second;
                perSecond[i] = 0;
            }
            perSecond[i] += n;
        }
    }

    void adapterTokens(Map<String, Integer> counts) {
        counts.forEach((name, n) -> adapterTokens.computeIfAbsent(name, k -> new LongAdder()).add(n));
    }

    /** Generated tokens per second over the last ten whole seconds. */
    double tokensPerSecond() {
        long now = System.nanoTime() / 1_000_000_000L;
        long sum = 0;
        synchronized (perSecond) {
            for (int i = 0; i < WINDOW_SECONDS; i++) {
                if (secondOf[i] < now && secondOf[i] >= now - WINDOW_SECONDS) {
                    sum += perSecond[i];
                }
            }
        }
        return sum / (double) WINDOW_SECONDS;
    }

    String prometheus() {
        StringBuilder out = new StringBuilder();
        out.append("# HELP molora_requests_total HTTP requests answered, by endpoint and status code.\n");
        out.append("# TYPE molora_requests_total counter\n");
        new TreeMap<>(requests).forEach((k, v) -> {
            String[] p = k.split("\u0000");
            out.append("molora_requests_total{endpoint=\"").append(label(p[0])).append("\",code=\"").append(p[1])
                    .append("\"} ").append(v.sum()).append('\n');
        });
        gauge(out, "molora_queue_depth", "Requests waiting for a sequence.", queued.getAsInt());
        gauge(out, "molora_requests_active", "Requests decoding now.", active.getAsInt());
        counter(out, "molora_prompt_tokens_total", "Prompt tokens of the requests that got a sequence.",
                promptTokens.sum());
        counter(out, "molora_generated_tokens_total", "Tokens generated.", generatedTokens.sum());
        out.append("# HELP molora_tokens_per_second Tokens generated per second over the last 10 s.\n");
        out.append("# TYPE molora_tokens_per_second gauge\n");
        out.append("molora_tokens_per_second ").append(String.format(java.util.Locale.ROOT, "%.2f", tokensPerSecond()))
                .append('\n');
        out.append("# HELP molora_adapter_tokens_total Generated tokens by adapter (\"none\": the base model; a token "
                + "mixing adapters counts for each).\n");
        out.append("# TYPE molora_adapter_tokens_total counter\n");
        new TreeMap<>(adapterTokens).forEach((name, v) -> out.append("molora_adapter_tokens_total{adapter=\"")
                .append(label(name)).append("\"} ").append(v.sum()).append('\n'));
        DecodeStats d = decodes.get();
        counter(out, "molora_decodes_total", "Decodes (batches) run by the batch loop.", d.decodes());
        counter(out, "molora_decoded_tokens_total", "Tokens in those batches, prompt and generated.", d.tokens());
        counter(out, "molora_decode_busy_slots_total", "Sequences holding a request, summed over the decodes.",
                d.busySlots());
        seconds(out, "molora_decode_seconds_total", "Time spent decoding batches.", d.decodeNanos());
        seconds(out, "molora_step_seconds_total", "Time spent in the batch loop's steps (decoding, sampling, handing "
                + "out text).", d.stepNanos());
        return out.toString();
    }

    private static void gauge(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" gauge\n").append(name).append(' ').append(value).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, long value) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ').append(value).append('\n');
    }

    private static void seconds(StringBuilder out, String name, String help, long nanos) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(" counter\n").append(name).append(' ')
                .append(String.format(java.util.Locale.ROOT, "%.6f", nanos / 1e9)).append('\n');
    }

    /** A label value escaped as the exposition format wants (backslash, quote, newline). */
    private static String label(String v) {
        return v.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n");
    }
}
