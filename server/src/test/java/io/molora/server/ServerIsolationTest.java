package io.molora.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.adapters.AdapterSpec;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.RouterSpec;
import io.molora.runtime.ContextParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.BufferedReader;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Issue 26's first finding: one client's mix weight drove the model's output to NaN, and with a token+hidden router
 * every request in the batch failed ("router score 0 is NaN"). Now that request ends alone with a clear error, and the
 * requests decoding beside it — one routed by the router ({@code auto}), one on a fixed adapter — answer exactly as
 * they do alone.
 */
class ServerIsolationTest {
    static final ObjectMapper JSON = new ObjectMapper();
    static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    static Engine engine;
    static MoloraServer server;

    @BeforeAll
    static void start() {
        Path family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        assertTrue(Files.isRegularFile(family.resolve("testbed-base.gguf")), "the testbed family in " + family);
        List<AdapterSpec> adapters = List.of("code", "prose", "math").stream()
                .map(d -> new AdapterSpec(d, family.resolve("testbed-lora-" + d + ".gguf"), 1f)).toList();
        engine = Engine.open(EngineSpec.of(family.resolve("testbed-base.gguf"))
                .withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(2048))
                // token+hidden features: the router reads every sequence's last hidden state, NaN included
                .withAdapters(adapters, new RouterSpec.Learned(family.resolve("router-unlabelled.gguf"))));
        server = MoloraServer.start(engine, ServerTest.config().withParallel(4));
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

    static String body(String model, String prompt, boolean stream, String molora) {
        return "{\"model\": \"" + model + "\", \"prompt\": \"" + prompt + "\", \"max_tokens\": 64, \"temperature\": 0"
                + (stream ? ", \"stream\": true" : "") + (molora == null ? "" : ", \"molora\": " + molora) + "}";
    }

    static HttpResponse<String> post(String body) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create(ServerTest.url(server, "/v1/completions")))
                .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json").build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /** A streamed completion's text; {@code started} counts down at its first chunk. */
    static CompletableFuture<String> streamed(String body, CountDownLatch started) {
        return CompletableFuture.supplyAsync(() -> {
            try {
                HttpResponse<InputStream> res = HTTP.send(HttpRequest.newBuilder(
                                URI.create(ServerTest.url(server, "/v1/completions")))
                        .POST(HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json")
                        .build(), HttpResponse.BodyHandlers.ofInputStream());
                assertEquals(200, res.statusCode());
                StringBuilder text = new StringBuilder();
                try (BufferedReader r = new BufferedReader(new InputStreamReader(res.body(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) {
                        if (!line.startsWith("data: ") || line.equals("data: [DONE]")) {
                            continue;
                        }
                        JsonNode chunk = JSON.readTree(line.substring(6));
                        assertTrue(chunk.has("choices"), "an error event in a neighbour's stream: " + line);
                        text.append(chunk.get("choices").get(0).get("text").asText());
                        started.countDown();
                    }
                }
                return text.toString();
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    @Test
    void aMixWeightThatMakesNaNEndsOnlyItsOwnRequest() throws Exception {
        String routed = body("auto", "The history of the city", false, null);
        String prose = body("prose", "Once upon a time", false, null);
        String alone1 = JSON.readTree(post(routed).body()).get("choices").get(0).get("text").asText();
        String alone2 = JSON.readTree(post(prose).body()).get("choices").get(0).get("text").asText();

        // weight 100: inside the documented range, far beyond what the code adapter stays finite at
        String hostile = body("code", "x", false, "{\"adapters\": {\"code\": 100}}");
        HttpResponse<String> alone = post(hostile);
        assertEquals(500, alone.statusCode(), alone.body());
        assertTrue(alone.body().contains("NaN or infinite"), alone.body());

        CountDownLatch started = new CountDownLatch(2);
        CompletableFuture<String> a = streamed(body("auto", "The history of the city", true, null), started);
        CompletableFuture<String> b = streamed(body("prose", "Once upon a time", true, null), started);
        assertTrue(started.await(60, TimeUnit.SECONDS), "both neighbours decoding");
        HttpResponse<String> beside = post(hostile);  // joins their batch while they decode
        assertEquals(500, beside.statusCode(), beside.body());
        assertTrue(beside.body().contains("the adapter weights are too large"), beside.body());
        assertEquals(alone1, a.get(120, TimeUnit.SECONDS), "the routed request beside it");
        assertEquals(alone2, b.get(120, TimeUnit.SECONDS), "the fixed-adapter request beside it");

        // and the server goes on: the same request as before, the same answer
        assertEquals(alone1, JSON.readTree(post(routed).body()).get("choices").get(0).get("text").asText());
    }

    /** Issue 26, #13: a chat message far beyond a slot is a 400 at once, without tokenizing it whole. */
    @Test
    void aPromptFarBeyondTheContextIsRefusedByItsLength() throws Exception {
        String content = "word ".repeat(180_000);  // 900 000 characters, under the 1 MiB body limit
        HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create(ServerTest.url(server,
                        "/v1/chat/completions"))).POST(HttpRequest.BodyPublishers.ofString("{\"model\": \"auto\", "
                        + "\"messages\": [{\"role\": \"user\", \"content\": \"" + content + "\"}]}"))
                .header("Content-Type", "application/json").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(400, r.statusCode(), r.body());
        assertTrue(r.body().contains("characters cannot fit in a slot of 512 tokens"), r.body());
    }
}
