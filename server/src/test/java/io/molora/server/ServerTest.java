package io.molora.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.molora.adapters.AdapterSpec;
import io.molora.engine.AdapterMix;
import io.molora.engine.Completion;
import io.molora.engine.CompletionRequest;
import io.molora.engine.CompletionSettings;
import io.molora.engine.CompletionSink;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.GenerationListener;
import io.molora.engine.GenerationRequest;
import io.molora.engine.Prompt;
import io.molora.engine.Route;
import io.molora.engine.RouterSpec;
import io.molora.runtime.ChatTemplate;
import io.molora.runtime.ContextParams;
import io.molora.runtime.GeneratedToken;
import io.molora.runtime.GenerationResult;
import io.molora.runtime.SamplerParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code molora serve} through a real HTTP client ({@link HttpClient}), on the committed testbed family (base, code,
 * prose and math LoRAs, its learned token+hidden router as {@code auto}): answers equal the engine's own results for
 * the same requests, even when they share batches; streaming is framed as OpenAI frames it; errors are OpenAI's
 * format with the right status; the key, the queue limit, a client that goes away and a shutdown behave.
 */
class ServerTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final SamplerParams GREEDY = new SamplerParams(0f, 40, 0.95f, 0.05f, -1);
    static Path family;
    static List<AdapterSpec> adapters;
    static Path router;
    static Engine engine;
    static MoloraServer server;
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

    @BeforeAll
    static void start() throws Exception {
        family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        assertTrue(Files.isRegularFile(family.resolve("testbed-base.gguf")), "the testbed family in " + family);
        adapters = List.of("code", "prose", "math").stream()
                .map(d -> new AdapterSpec(d, family.resolve("testbed-lora-" + d + ".gguf"), 1f)).toList();
        router = family.resolve("router-unlabelled.gguf");  // token+hidden features: the hardest path
        engine = open(new RouterSpec.Learned(router));
        server = MoloraServer.start(engine, config().withParallel(4));
    }

    @AfterAll
    static void stop() {
        if (server != null) {
            server.close();
        }
        if (engine != null) {
            engine.close();
        }
    }

    static Engine open(RouterSpec routerSpec) {
        return Engine.open(EngineSpec.of(family.resolve("testbed-base.gguf"))
                .withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(2048))
                .withAdapters(adapters, routerSpec));
    }

    static ServerConfig config() {
        return ServerConfig.defaults("testbed-base").withPort(0).withSampling(GREEDY);
    }

    static String url(MoloraServer s, String path) {
        return "http://127.0.0.1:" + s.port() + path;
    }

    static HttpResponse<String> post(MoloraServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path)))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(MoloraServer s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(url(s, path))).GET();
        for (int i = 0; i < headers.length; i += 2) {
            b.header(headers[i], headers[i + 1]);
        }
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static JsonNode json(HttpResponse<String> r) throws Exception {
        return JSON.readTree(r.body());
    }

    // ---- the requests and their oracle

    /** A request as the engine takes it and as an OpenAI client sends it. */
    record Case(String name, boolean chat, String model, Optional<AdapterMix> mix, String prompt, ObjectNode body) {}

    static List<Case> cases() {
        List<Case> cases = new ArrayList<>();
        Function<String, AdapterMix> one = n -> new AdapterMix(Map.of(n, 1f));
        cases.add(text("base", "testbed-base", Optional.of(AdapterMix.none()), "The history of the city"));
        cases.add(text("code", "code", Optional.of(one.apply("code")), "def parse(line):"));
        cases.add(text("auto", "auto", Optional.empty(), "To solve 3x + 5 = 11, def f(x): return"));
        Map<String, Float> w = new LinkedHashMap<>();
        w.put("code", 0.7f);
        w.put("math", 0.3f);
        Case mix = text("mix", "auto", Optional.of(new AdapterMix(w)), "Let n be the number of");
        ((ObjectNode) mix.body().withObject("molora")).putObject("adapters").put("code", 0.7).put("math", 0.3);
        cases.add(mix);
        cases.add(chat("chat-auto", "auto", Optional.empty(), "Write a function that adds two numbers."));
        cases.add(chat("chat-prose", "prose", Optional.of(one.apply("prose")), "Tell me about the sea."));
        return cases;
    }

    static Case text(String name, String model, Optional<AdapterMix> mix, String prompt) {
        ObjectNode body = JSON.createObjectNode().put("model", model).put("prompt", prompt).put("max_tokens", 24)
                .put("temperature", 0);
        body.putObject("molora").put("show_routes", true);
        return new Case(name, false, model, mix, prompt, body);
    }

    static Case chat(String name, String model, Optional<AdapterMix> mix, String content) {
        ObjectNode body = JSON.createObjectNode().put("model", model).put("max_tokens", 24).put("temperature", 0);
        body.putArray("messages").addObject().put("role", "user").put("content", content);
        body.putObject("molora").put("show_routes", true);
        return new Case(name, true, model, mix, content, body);
    }

    /** What the engine gives for each case, one request at a time (one sequence: nothing shared). */
    static Map<String, Completion> oracle(List<Case> cases) {
        Map<String, Completion> out = new ConcurrentHashMap<>();
        List<CompletionRequest> requests = new ArrayList<>();
        for (Case c : cases) {
            Prompt p = c.chat() ? new Prompt.Chat(List.of(new ChatTemplate.Message("user", c.prompt())))
                    : new Prompt.Text(c.prompt());
            requests.add(new CompletionRequest(c.name(), p, 24, GREEDY, c.mix()));
        }
        // the server holds the engine's router while it runs: the oracle runs on an engine of its own
        try (Engine e = open(new RouterSpec.Learned(router))) {
            e.complete(requests, new CompletionSettings(1, Optional.empty(), true), new CompletionSink() {
                @Override
                public void completed(Completion c) {
                    out.put(c.request().id(), c);
                }

                @Override
                public void failed(CompletionRequest request, String message) {
                    throw new AssertionError(request.id() + ": " + message);
                }
            });
        }
        return out;
    }

    static List<String> routeNames(Route r, List<String> names) {
        List<String> out = new ArrayList<>();
        for (int j = 0; j < r.adapters().length; j++) {
            String n = names.get(r.adapters()[j]);
            out.add(r.weights()[j] == 1f ? n : n + ":" + r.weights()[j]);
        }
        return out;
    }

    // ---- tests

    @Test
    void modelsListsTheBaseEachAdapterAndAuto() throws Exception {
        HttpResponse<String> r = get(server, "/v1/models");
        assertEquals(200, r.statusCode());
        JsonNode m = json(r);
        assertEquals("list", m.get("object").asText());
        Map<String, String> kinds = new LinkedHashMap<>();
        m.get("data").forEach(d -> kinds.put(d.get("id").asText(), d.get("molora").get("kind").asText()));
        assertEquals(Map.of("testbed-base", "base", "code", "adapter", "prose", "adapter", "math", "adapter",
                "auto", "router"), kinds);
        assertEquals("model", m.get("data").get(0).get("object").asText());
        assertEquals(200, get(server, "/v1/models/code").statusCode());
        assertEquals(404, get(server, "/v1/models/nope").statusCode());
        assertEquals("{\"status\":\"ok\"}", get(server, "/health").body());
    }

    @Test
    void concurrentRequestsEqualTheEnginesResultForEachAlone() throws Exception {
        List<Case> cases = cases();
        Map<String, Completion> oracle = oracle(cases);
        // all at once: they share the server's batches (4 sequences)
        Map<String, CompletableFuture<HttpResponse<String>>> answers = new LinkedHashMap<>();
        for (Case c : cases) {
            answers.put(c.name(), CompletableFuture.supplyAsync(() -> {
                try {
                    return post(server, c.chat() ? "/v1/chat/completions" : "/v1/completions", c.body().toString());
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }));
        }
        for (Case c : cases) {
            HttpResponse<String> r = answers.get(c.name()).get();
            assertEquals(200, r.statusCode(), r.body());
            JsonNode j = json(r);
            Completion want = oracle.get(c.name());
            JsonNode choice = j.get("choices").get(0);
            String text = c.chat() ? choice.get("message").get("content").asText() : choice.get("text").asText();
            assertEquals(want.text(), text, c.name());
            assertEquals(c.chat() ? "chat.completion" : "text_completion", j.get("object").asText());
            assertEquals(c.model(), j.get("model").asText());
            assertEquals(want.stopReason().name().equals("MAX_TOKENS") ? "length" : "stop",
                    choice.get("finish_reason").asText(), c.name());
            assertEquals(want.promptTokens(), j.get("usage").get("prompt_tokens").asInt(), c.name());
            assertEquals(want.completionTokens(), j.get("usage").get("completion_tokens").asInt(), c.name());
            assertEquals(JSON.valueToTree(want.adapterTokens()), j.get("molora").get("adapter_tokens"), c.name());
            // each token's route, as the engine traced it
            ArrayNode routes = (ArrayNode) j.get("molora").get("routes");
            assertEquals(want.routes().size(), routes.size(), c.name());
            StringBuilder joined = new StringBuilder();
            for (int i = 0; i < routes.size(); i++) {
                assertEquals(want.routes().get(i).text(), routes.get(i).get("token").asText());
                List<String> got = new ArrayList<>();
                routes.get(i).get("adapters").forEach(a -> got.add(a.asText()));
                assertEquals(routeNames(want.routes().get(i).route(), engine.adapterNames()), got, c.name() + " " + i);
                joined.append(routes.get(i).get("token").asText());
            }
            assertEquals(text, joined.toString());
        }
        // the fixed requests route as asked
        assertEquals(JSON.readTree("{\"code\":24}"), json(answers.get("code").get()).get("molora").get("adapter_tokens"));
        assertEquals(JSON.readTree("{\"none\":24}"), json(answers.get("base").get()).get("molora").get("adapter_tokens"));
        json(answers.get("mix").get()).get("molora").get("routes").forEach(t -> assertEquals(
                "[\"code:0.7\",\"math:0.3\"]", t.get("adapters").toString()));
        // and the base request equals a plain single generation on a base-only engine (another decode loop)
        try (Engine base = open(new RouterSpec.Base())) {
            GenerationResult g = base.generate(new GenerationRequest("The history of the city", 24, GREEDY, false),
                    new GenerationListener() {
                        @Override
                        public void token(GeneratedToken token, Route route) {}
                    });
            assertEquals(g.text(), json(answers.get("base").get()).get("choices").get(0).get("text").asText());
        }
    }

    /** The events of an SSE body: each {@code data: ...} followed by a blank line. */
    static List<String> events(String body) {
        assertTrue(body.endsWith("\n\n"), "ends with a blank line");
        List<String> out = new ArrayList<>();
        for (String e : body.substring(0, body.length() - 2).split("\n\n", -1)) {
            assertTrue(e.startsWith("data: ") && !e.contains("\n"), "one data line per event: " + e);
            out.add(e.substring(6));
        }
        return out;
    }

    @Test
    void streamingIsFramedAsOpenAiAndCarriesTheSameTextAndRoutes() throws Exception {
        for (boolean chat : new boolean[] {false, true}) {
            Case c = chat ? chat("s", "auto", Optional.empty(), "Write a function that adds two numbers.")
                    : text("s", "auto", Optional.empty(), "To solve 3x + 5 = 11, def f(x): return");
            String path = chat ? "/v1/chat/completions" : "/v1/completions";
            JsonNode whole = json(post(server, path, c.body().toString()));
            ObjectNode body = c.body().deepCopy();
            body.put("stream", true);
            body.putObject("stream_options").put("include_usage", true);
            HttpResponse<String> r = post(server, path, body.toString());
            assertEquals(200, r.statusCode());
            assertTrue(r.headers().firstValue("content-type").orElse("").startsWith("text/event-stream"));
            List<String> events = events(r.body());
            assertEquals("[DONE]", events.getLast());
            StringBuilder text = new StringBuilder();
            List<JsonNode> routes = new ArrayList<>();
            JsonNode finish = null;
            JsonNode usage = null;
            for (int i = 0; i < events.size() - 1; i++) {
                JsonNode e = JSON.readTree(events.get(i));
                assertEquals(chat ? "chat.completion.chunk" : "text_completion", e.get("object").asText());
                assertEquals(whole.get("id").asText().substring(0, 4), e.get("id").asText().substring(0, 4));
                if (e.get("choices").isEmpty()) {
                    usage = e.get("usage");
                    continue;
                }
                JsonNode choice = e.get("choices").get(0);
                if (chat && i == 0) {
                    assertEquals("assistant", choice.get("delta").get("role").asText());
                }
                String piece = chat ? choice.get("delta").path("content").asText("") : choice.get("text").asText();
                text.append(piece);
                if (!choice.get("finish_reason").isNull()) {
                    finish = e;
                    continue;
                }
                if (!piece.isEmpty()) {
                    // routes for exactly the tokens whose text is in this chunk
                    StringBuilder tokens = new StringBuilder();
                    e.get("molora").get("routes").forEach(t -> {
                        tokens.append(t.get("token").asText());
                        routes.add(t);
                    });
                    assertEquals(piece, tokens.toString());
                }
            }
            JsonNode wholeChoice = whole.get("choices").get(0);
            assertEquals(chat ? wholeChoice.get("message").get("content").asText() : wholeChoice.get("text").asText(),
                    text.toString());
            assertEquals(whole.get("molora").get("routes"), JSON.valueToTree(routes));
            assertNotNull(finish, "a chunk with the finish reason");
            assertEquals(wholeChoice.get("finish_reason"), finish.get("choices").get(0).get("finish_reason"));
            assertEquals(whole.get("molora").get("adapter_tokens"), finish.get("molora").get("adapter_tokens"));
            assertEquals(whole.get("usage"), usage);
        }
    }

    @Test
    void aStopStringCutsTheTextBeforeItStreamedOrNot() throws Exception {
        Case c = text("stop", "code", Optional.empty(), "def parse(line):");
        JsonNode whole = json(post(server, "/v1/completions", c.body().toString()));
        String text = whole.get("choices").get(0).get("text").asText();
        assertTrue(text.length() > 8, text);
        String stop = text.substring(5, 8);
        String cut = text.substring(0, text.indexOf(stop));
        ObjectNode body = c.body().deepCopy();
        body.putArray("stop").add("never there").add(stop);
        JsonNode stopped = json(post(server, "/v1/completions", body.toString()));
        assertEquals(cut, stopped.get("choices").get(0).get("text").asText());
        assertEquals("stop", stopped.get("choices").get(0).get("finish_reason").asText());
        body.put("stream", true);
        StringBuilder streamed = new StringBuilder();
        for (String e : events(post(server, "/v1/completions", body.toString()).body())) {
            if (!e.equals("[DONE]")) {
                streamed.append(JSON.readTree(e).get("choices").get(0).get("text").asText());
            }
        }
        assertEquals(cut, streamed.toString());
    }

    @Test
    void badRequestsGetOneClearMessageAndTheRightStatus() throws Exception {
        record Bad(String path, String body, int status, String param, String says) {}
        String longPrompt = "word ".repeat(3000);
        List<Bad> bad = List.of(
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": ", 400, null, "not valid JSON"),
                new Bad("/v1/completions", "[1, 2]", 400, null, "JSON object"),
                new Bad("/v1/completions", "", 400, null, "empty"),
                new Bad("/v1/completions", "{\"model\": \"gpt-4\", \"prompt\": \"x\"}", 404, "model", "gpt-4"),
                new Bad("/v1/completions", "{\"model\": \"auto\"}", 400, "prompt", "prompt is required"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"n\": 2}", 400, "n", "n must be 1"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"echo\": true}", 400, "echo",
                        "not supported"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"logprobs\": 21}", 400, "logprobs",
                        "0 to 20"),
                new Bad("/v1/chat/completions", "{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                        + " \"top_logprobs\": 2}", 400, "top_logprobs", "needs logprobs: true"),
                new Bad("/v1/chat/completions", "{\"model\": \"auto\", \"messages\": [{\"role\": \"user\", \"content\": \"x\"}],"
                        + " \"tools\": [{\"type\": \"function\"}]}", 400, "tools", "not supported"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"temperature\": 7}", 400,
                        "temperature", "[0, 2]"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"max_tokens\": -1}", 400,
                        "max_tokens", ">= 0"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"stop\": 3}", 400, "stop", "stop"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"" + longPrompt + "\"}", 400, "prompt",
                        "does not fit"),
                new Bad("/v1/completions", "{\"model\": \"auto\", \"prompt\": \"x\", \"molora\": {\"adapters\": "
                        + "{\"cooking\": 1}}}", 400, "molora.adapters", "cooking"),
                new Bad("/v1/chat/completions", "{\"model\": \"auto\", \"messages\": []}", 400, "messages", "non-empty"),
                new Bad("/v1/chat/completions", "{\"model\": \"auto\", \"messages\": [{\"role\": \"tool\", \"content\": "
                        + "\"x\"}]}", 400, "messages[0].role", "tool"),
                new Bad("/v1/embeddings", "{}", 404, null, "no such endpoint"));
        for (Bad b : bad) {
            HttpResponse<String> r = post(server, b.path(), b.body());
            assertEquals(b.status(), r.statusCode(), b + " -> " + r.body());
            JsonNode e = json(r).get("error");
            assertNotNull(e, r.body());
            String message = e.get("message").asText();
            assertTrue(message.contains(b.says()), b + " -> " + message);
            assertFalse(message.contains("\n") || message.contains("Exception") || message.contains("\tat "), message);
            assertEquals(b.param() == null ? "null" : b.param(), e.get("param").isNull() ? "null" : e.get("param").asText());
            assertFalse(e.get("type").asText().isEmpty());
        }
        assertEquals(404, get(server, "/v1/completions").statusCode());
        // a body over the limit: 413, before it is read
        String big = "{\"model\": \"auto\", \"prompt\": \"" + "x".repeat((1 << 20) + 10) + "\"}";
        HttpResponse<String> r = post(server, "/v1/completions", big);
        assertEquals(413, r.statusCode(), r.body());
        assertTrue(json(r).get("error").get("message").asText().contains("larger than"));
    }

    @Test
    void anApiKeyGuardsTheApiButNotTheHealthCheck() throws Exception {
        try (Engine e = open(new RouterSpec.Base());
             MoloraServer s = MoloraServer.start(e, config().withApiKey("sesame").withParallel(1))) {
            String body = "{\"model\": \"testbed-base\", \"prompt\": \"Hello\", \"max_tokens\": 2}";
            for (String[] h : List.of(new String[0], new String[] {"Authorization", "Bearer wrong"},
                    new String[] {"Authorization", "sesame"})) {
                HttpResponse<String> r = post(s, "/v1/completions", body, h);
                assertEquals(401, r.statusCode(), r.body());
                assertEquals("authentication_error", json(r).get("error").get("type").asText());
                assertEquals(401, get(s, "/v1/models", h).statusCode());
                assertEquals(401, get(s, "/metrics", h).statusCode());
            }
            assertEquals(200, post(s, "/v1/completions", body, "Authorization", "Bearer sesame").statusCode());
            assertEquals(200, get(s, "/v1/models", "Authorization", "Bearer sesame").statusCode());
            assertEquals(200, get(s, "/health").statusCode());
            // without a router there is no 'auto'
            List<String> ids = new ArrayList<>();
            json(get(s, "/v1/models", "Authorization", "Bearer sesame")).get("data").forEach(d -> ids.add(d.get("id").asText()));
            assertEquals(List.of("testbed-base", "code", "prose", "math"), ids);
        }
    }

    /** Reads a streamed response's events as they come; closing it drops the connection. */
    static final class Stream implements AutoCloseable {
        final InputStream in;
        final BufferedReader reader;

        Stream(MoloraServer s, String body) throws Exception {
            HttpResponse<InputStream> r = HTTP.send(HttpRequest.newBuilder(URI.create(url(s, "/v1/completions")))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofInputStream());
            assertEquals(200, r.statusCode());
            in = r.body();
            reader = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
        }

        /** The next event's data (null at the end). */
        String next() throws Exception {
            String line;
            while ((line = reader.readLine()) != null && line.isEmpty()) {
                // the blank line between events
            }
            return line == null ? null : line.substring(6);
        }

        @Override
        public void close() throws Exception {
            in.close();
        }
    }

    static double metric(MoloraServer s, String name) throws Exception {
        for (String line : get(s, "/metrics").body().split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        throw new AssertionError("no metric " + name);
    }

    static void awaitMetric(MoloraServer s, String name, double value) throws Exception {
        long end = System.nanoTime() + Duration.ofSeconds(120).toNanos();
        while (metric(s, name) != value) {
            assertTrue(System.nanoTime() < end, name + " never reached " + value);
            Thread.sleep(20);
        }
    }

    @Test
    void aFullQueueAnswers429AndAClientThatLeavesIsCancelled() throws Exception {
        try (Engine e = open(new RouterSpec.Base());
             MoloraServer s = MoloraServer.start(e, config().withParallel(1).withQueueLimit(1))) {
            // one request decoding (it would run to the end of its 2048 positions), one waiting
            String endless = "{\"model\": \"code\", \"prompt\": \"def f(x):\", \"max_tokens\": 100000, \"stream\": true}";
            try (Stream running = new Stream(s, endless)) {
                assertNotNull(running.next());
                CompletableFuture<HttpResponse<String>> waiting = CompletableFuture.supplyAsync(() -> {
                    try {
                        return post(s, "/v1/completions", "{\"model\": \"math\", \"prompt\": \"1 + 1 =\", \"max_tokens\": 3}");
                    } catch (Exception x) {
                        throw new IllegalStateException(x);
                    }
                });
                awaitMetric(s, "molora_queue_depth", 1);
                HttpResponse<String> third = post(s, "/v1/completions",
                        "{\"model\": \"math\", \"prompt\": \"2 + 2 =\", \"max_tokens\": 3}");
                assertEquals(429, third.statusCode(), third.body());
                assertEquals("rate_limit_error", json(third).get("error").get("type").asText());
                for (int i = 0; i < 5; i++) {
                    assertNotNull(running.next());
                }
                running.close();  // the client goes away: its sequence is freed, the waiting request runs
                HttpResponse<String> w = waiting.get();
                assertEquals(200, w.statusCode(), w.body());
                awaitMetric(s, "molora_requests_active", 0);
            }
            // the abandoned request stopped long before its 2048 positions were full
            double generated = metric(s, "molora_generated_tokens_total");
            assertTrue(generated < 1000, "generated " + generated);
            // one sequence: every decode held exactly one request, and carried its prompt or a generated token
            double decodes = metric(s, "molora_decodes_total");
            assertTrue(decodes >= generated - 2, "decodes " + decodes + ", generated " + generated);
            assertEquals(decodes, metric(s, "molora_decode_busy_slots_total"));
            assertTrue(metric(s, "molora_decoded_tokens_total") >= decodes);
            assertTrue(metric(s, "molora_decode_seconds_total") > 0);
            assertTrue(metric(s, "molora_step_seconds_total") >= metric(s, "molora_decode_seconds_total"));
        }
    }

    @Test
    void aClientThatLeavesARequestThatIsNotStreamedIsCancelled() throws Exception {
        try (Engine e = open(new RouterSpec.Base());
             MoloraServer s = MoloraServer.start(e, config().withParallel(1))) {
            // it would run to the end of its 2048 positions
            byte[] body = "{\"model\": \"code\", \"prompt\": \"def f(x):\", \"max_tokens\": 100000}"
                    .getBytes(StandardCharsets.UTF_8);
            try (Socket socket = new Socket("127.0.0.1", s.port())) {
                OutputStream out = socket.getOutputStream();
                out.write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        + "Content-Length: " + body.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
                out.write(body);
                out.flush();
                // while it decodes, the status goes out, then a space every half second
                InputStream in = socket.getInputStream();
                String head = new String(in.readNBytes(15), StandardCharsets.US_ASCII);
                assertEquals("HTTP/1.1 200 OK", head);
                int c;
                StringBuilder seen = new StringBuilder();
                while ((c = in.read()) >= 0 && !seen.toString().endsWith("\r\n\r\n")) {
                    seen.append((char) c);  // the rest of the headers
                }
                assertTrue(seen.toString().toLowerCase(java.util.Locale.ROOT).contains("transfer-encoding: chunked"),
                        seen.toString());
            }  // the client goes away
            awaitMetric(s, "molora_requests_active", 0);
            assertTrue(get(s, "/metrics").body().contains(
                    "molora_requests_total{endpoint=\"/v1/completions\",code=\"499\"} 1"), get(s, "/metrics").body());
            double generated = metric(s, "molora_generated_tokens_total");
            assertTrue(generated < 2000, "stopped before its sequence was full: " + generated);
        }
    }

    @Test
    void onShutdownRequestsInFlightFinishAndNewOnesGet503() throws Exception {
        Engine e = open(new RouterSpec.Base());
        MoloraServer s = MoloraServer.start(e, config().withParallel(1).withShutdownGrace(Duration.ofMinutes(5)));
        // 400 tokens: in flight longer than the checks below take (a few local requests)
        try (Stream inFlight = new Stream(s, "{\"model\": \"prose\", \"prompt\": \"Once\", \"max_tokens\": 400,"
                + " \"stream\": true}")) {
            assertNotNull(inFlight.next());
            Thread closer = Thread.ofPlatform().start(s::close);
            long end = System.nanoTime() + Duration.ofSeconds(60).toNanos();
            while (get(s, "/health").statusCode() != 503) {
                assertTrue(System.nanoTime() < end, "health never said shutting down");
                Thread.sleep(10);
            }
            HttpResponse<String> late = post(s, "/v1/completions", "{\"model\": \"prose\", \"prompt\": \"x\"}");
            assertEquals(503, late.statusCode(), late.body());
            assertTrue(json(late).get("error").get("message").asText().contains("shutting down"));
            String last = null;
            String event;
            List<String> events = new ArrayList<>();
            while ((event = inFlight.next()) != null) {
                events.add(event);
                last = event;
            }
            assertEquals("[DONE]", last);
            JsonNode finish = JSON.readTree(events.get(events.size() - 2));
            assertEquals("length", finish.get("choices").get(0).get("finish_reason").asText(), events.toString());
            closer.join();
        } finally {
            s.close();
            e.close();
        }
    }
}
