package io.molora.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.molora.adapters.AdapterSpec;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.RouterSpec;
import io.molora.runtime.ContextParams;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@code molora serve} as a local service, against what a hostile page or client sends (issue 26), over raw sockets
 * so that every header and every byte is the test's: without a key only requests addressed to this machine are
 * answered (DNS rebinding), pages on other origins are refused, reading a request has a time limit, {@code Connection:
 * close} closes, a client leaving mid-body is a 400 and one log line, a body must be one JSON value, and queued
 * requests whose clients left free their places at once.
 */
class ServerHostileInputTest {
    /** Short, so that the tests of slow clients take seconds; the assertions are on closing, not on speed. */
    static final Duration READ_TIMEOUT = Duration.ofSeconds(1);
    static final String COMPLETION = "{\"model\": \"testbed-base\", \"prompt\": \"Hello\", \"max_tokens\": 1}";
    static Engine engine;
    static MoloraServer server;

    @BeforeAll
    static void start() {
        engine = open();
        server = MoloraServer.start(engine, config());
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

    static Engine open() {
        Path family = Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
        assertTrue(Files.isRegularFile(family.resolve("testbed-base.gguf")), "the testbed family in " + family);
        List<AdapterSpec> adapters = List.of(new AdapterSpec("code", family.resolve("testbed-lora-code.gguf"), 1f));
        return Engine.open(EngineSpec.of(family.resolve("testbed-base.gguf"))
                .withModelParams(NativeTestSupport.modelParams())
                .withContextParams(ContextParams.defaults().withContextSize(2048))
                .withAdapters(adapters, new RouterSpec.Base()));
    }

    static ServerConfig config() {
        return ServerConfig.defaults("testbed-base").withPort(0).withSampling(ServerTest.GREEDY)
                .withParallel(1).withReadTimeout(READ_TIMEOUT);
    }

    // ---- a raw HTTP/1.1 client

    record Reply(int status, Map<String, String> headers, String body) {
        JsonNode error() throws IOException {
            return ServerTest.JSON.readTree(body).get("error");
        }
    }

    static Socket connect(MoloraServer s) throws IOException {
        Socket socket = new Socket("127.0.0.1", s.port());
        socket.setSoTimeout(60_000);
        return socket;
    }

    static String request(String method, String path, String host, String body, String... headers) {
        StringBuilder r = new StringBuilder(method + " " + path + " HTTP/1.1\r\nHost: " + host + "\r\n");
        for (int i = 0; i < headers.length; i += 2) {
            r.append(headers[i]).append(": ").append(headers[i + 1]).append("\r\n");
        }
        if (body != null) {
            r.append("Content-Length: ").append(body.getBytes(StandardCharsets.UTF_8).length).append("\r\n");
        }
        r.append("\r\n");
        if (body != null) {
            r.append(body);
        }
        return r.toString();
    }

    /** One request on a connection of its own. */
    static Reply exchange(MoloraServer s, String request) throws IOException {
        try (Socket socket = connect(s)) {
            socket.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
            return read(socket.getInputStream());
        }
    }

    static Reply get(MoloraServer s, String path, String host, String... headers) throws IOException {
        return exchange(s, request("GET", path, host, null, headers));
    }

    static Reply post(MoloraServer s, String path, String host, String body, String... headers) throws IOException {
        return exchange(s, request("POST", path, host, body, headers));
    }

    static String line(InputStream in) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        int c;
        while ((c = in.read()) >= 0 && c != '\n') {
            b.write(c);
        }
        if (c < 0 && b.size() == 0) {
            throw new IOException("the connection closed before a response");
        }
        return b.toString(StandardCharsets.ISO_8859_1).stripTrailing();
    }

    /** One response: its status, headers (names in lower case) and body (by Content-Length or chunked). */
    static Reply read(InputStream in) throws IOException {
        String status = line(in);
        assertTrue(status.startsWith("HTTP/1.1 "), status);
        Map<String, String> headers = new LinkedHashMap<>();
        for (String h = line(in); !h.isEmpty(); h = line(in)) {
            int colon = h.indexOf(':');
            headers.put(h.substring(0, colon).strip().toLowerCase(Locale.ROOT), h.substring(colon + 1).strip());
        }
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        if (headers.containsKey("content-length")) {
            body.write(in.readNBytes(Integer.parseInt(headers.get("content-length"))));
        } else if ("chunked".equalsIgnoreCase(headers.get("transfer-encoding"))) {
            for (int n = Integer.parseInt(line(in), 16); n > 0; n = Integer.parseInt(line(in), 16)) {
                body.write(in.readNBytes(n));
                line(in);
            }
            line(in);
        }
        return new Reply(Integer.parseInt(status.substring(9, 12)), headers, body.toString(StandardCharsets.UTF_8));
    }

    /** Whether the server closes the connection within {@code d} (end of stream or a reset); data is read past. */
    static boolean closedWithin(Socket socket, Duration d) throws IOException {
        long end = System.nanoTime() + d.toNanos();
        byte[] buf = new byte[4096];
        while (System.nanoTime() < end) {
            socket.setSoTimeout((int) Math.max(1, (end - System.nanoTime()) / 1_000_000));
            try {
                if (socket.getInputStream().read(buf) < 0) {
                    return true;
                }
            } catch (SocketTimeoutException e) {
                return false;
            } catch (SocketException e) {
                return true;  // reset
            }
        }
        return false;
    }

    /** Log records of the server and of Helidon while {@code run} runs. */
    static List<LogRecord> logged(ThrowingRunnable run) throws Exception {
        List<LogRecord> records = new CopyOnWriteArrayList<>();
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                records.add(r);
            }

            @Override
            public void flush() {}

            @Override
            public void close() {}
        };
        h.setLevel(Level.ALL);
        List<Logger> loggers = List.of(Logger.getLogger("io.molora"), Logger.getLogger("io.helidon"));
        loggers.forEach(l -> l.addHandler(h));
        try {
            run.run();
        } finally {
            loggers.forEach(l -> l.removeHandler(h));
        }
        return records;
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    static String metrics(MoloraServer s) throws IOException {
        return get(s, "/metrics", "127.0.0.1").body();
    }

    static double metric(MoloraServer s, String name) throws IOException {
        for (String line : metrics(s).split("\n")) {
            if (line.startsWith(name + " ")) {
                return Double.parseDouble(line.substring(name.length() + 1));
            }
        }
        throw new AssertionError("no metric " + name);
    }

    static void awaitMetric(MoloraServer s, String name, double value, Duration within) throws Exception {
        long end = System.nanoTime() + within.toNanos();
        while (metric(s, name) != value) {
            assertTrue(System.nanoTime() < end, name + " was not " + value + " within " + within + ": "
                    + metric(s, name));
            Thread.sleep(20);
        }
    }

    // ---- Host: DNS rebinding

    @Test
    void withoutAKeyOnlyRequestsAddressedToThisMachineAreAnswered() throws Exception {
        int port = server.port();
        for (String host : List.of("attacker.example", "attacker.example:" + port, "localhost.attacker.example:" + port,
                "127.0.0.1.nip.io:" + port)) {
            for (String path : List.of("/v1/models", "/health", "/")) {
                Reply r = get(server, path, host);
                assertEquals(403, r.status(), host + " " + path + ": " + r.body());
                JsonNode e = r.error();
                assertEquals("permission_error", e.get("type").asText());
                assertEquals("host_not_allowed", e.get("code").asText());
                String message = e.get("message").asText();
                assertTrue(message.contains("--api-key") && message.contains("'" + host + "'"), message);
                assertFalse(message.contains("\n"), message);
            }
        }
        for (String host : List.of("localhost", "localhost:" + port, "LocalHost:" + port, "localhost.:" + port,
                "127.0.0.1", "127.0.0.1:" + port, "127.0.0.2:" + port, "[::1]:" + port, "[::1]")) {
            assertEquals(200, get(server, "/v1/models", host).status(), host);
        }
        // a page that rebinds its name to this machine and posts a "simple" request (no preflight): the model does not
        // run
        double generated = metric(server, "molora_generated_tokens_total");
        Reply r = post(server, "/v1/completions", "attacker.example:" + port, COMPLETION,
                "Origin", "http://attacker.example:" + port, "Content-Type", "text/plain");
        assertEquals(403, r.status(), r.body());
        assertEquals(generated, metric(server, "molora_generated_tokens_total"));
        // the same request for the server's own address runs
        r = post(server, "/v1/completions", "127.0.0.1:" + port, COMPLETION, "Content-Type", "text/plain");
        assertEquals(200, r.status(), r.body());
    }

    @Test
    void withAKeyTheHostIsNotChecked() throws Exception {
        try (MoloraServer s = MoloraServer.start(engine, config().withApiKey("sesame"))) {
            Reply r = get(s, "/v1/models", "my-box.example:" + s.port(), "Authorization", "Bearer sesame");
            assertEquals(200, r.status(), r.body());
            assertEquals(401, get(s, "/v1/models", "my-box.example").status());
        }
    }

    @Test
    void theNameTheServerListensOnIsAnAddressOfIt() {
        assertTrue(MoloraServer.addressedHere("my-box:8080", "my-box"));
        assertTrue(MoloraServer.addressedHere("MY-BOX", "my-box"));
        assertFalse(MoloraServer.addressedHere("my-box.attacker.example", "my-box"));
        assertFalse(MoloraServer.addressedHere("my-box", "0.0.0.0"));
        assertTrue(MoloraServer.addressedHere("192.168.1.20:8080", "0.0.0.0"));
        assertTrue(MoloraServer.addressedHere("[fe80::1]:8080", "::"));
        assertFalse(MoloraServer.addressedHere("[fe80::1", "::"));
        assertFalse(MoloraServer.addressedHere("a:b:c", "::"));
    }

    // ---- Origin: pages on other origins

    @Test
    void pagesOnOtherOriginsAreRefusedTheServersOwnPageIsNot() throws Exception {
        int port = server.port();
        String own = "127.0.0.1:" + port;
        for (String origin : List.of("http://attacker.example", "http://attacker.example:" + port,
                "http://127.0.0.1:" + (port == 65535 ? 1 : port + 1), "https://127.0.0.1:" + port, "null",
                "http://localhost:" + port)) {
            double generated = metric(server, "molora_generated_tokens_total");
            Reply r = post(server, "/v1/completions", own, COMPLETION, "Origin", origin, "Content-Type", "text/plain");
            assertEquals(403, r.status(), origin + ": " + r.body());
            assertEquals("origin_not_allowed", r.error().get("code").asText());
            assertTrue(r.error().get("message").asText().contains("--cors-origin"), r.body());
            assertEquals(generated, metric(server, "molora_generated_tokens_total"), origin);
            assertEquals(403, get(server, "/v1/models", own, "Origin", origin).status(), origin);
        }
        // the server's own page: same scheme, host and port as the request's
        assertEquals(200, post(server, "/v1/completions", own, COMPLETION, "Origin", "http://" + own).status());
        assertEquals(200, get(server, "/v1/models", "localhost:" + port, "Origin", "http://localhost:" + port).status());
        assertEquals(200, get(server, "/v1/models", "[::1]:" + port, "Origin", "http://[::1]:" + port).status());
        assertEquals(200, get(server, "/v1/models", "localhost", "Origin", "http://localhost:80").status());
    }

    @Test
    void anOriginOfCorsOriginIsAnsweredWithItsHeaders() throws Exception {
        try (MoloraServer s = MoloraServer.start(engine, config().withCorsOrigins(List.of("http://localhost:3000")))) {
            String own = "127.0.0.1:" + s.port();
            Reply r = post(s, "/v1/completions", own, COMPLETION, "Origin", "http://localhost:3000",
                    "Content-Type", "application/json");
            assertEquals(200, r.status(), r.body());
            assertEquals("http://localhost:3000", r.headers().get("access-control-allow-origin"));
            Reply preflight = exchange(s, request("OPTIONS", "/v1/completions", own, null,
                    "Origin", "http://localhost:3000", "Access-Control-Request-Method", "POST",
                    "Access-Control-Request-Headers", "content-type, authorization"));
            assertEquals(204, preflight.status(), preflight.toString());
            assertEquals("http://localhost:3000", preflight.headers().get("access-control-allow-origin"));
            Reply foreign = post(s, "/v1/completions", own, COMPLETION, "Origin", "http://localhost:3001");
            assertEquals(403, foreign.status(), foreign.body());
            Reply foreignPreflight = exchange(s, request("OPTIONS", "/v1/completions", own, null,
                    "Origin", "http://localhost:3001", "Access-Control-Request-Method", "POST"));
            assertEquals(403, foreignPreflight.status(), foreignPreflight.toString());
            assertNull(foreignPreflight.headers().get("access-control-allow-origin"));
        }
    }

    // ---- reading a request has a time limit

    @Test
    void slowClientsAreClosedAfterTheReadTimeout() throws Exception {
        Duration within = READ_TIMEOUT.multipliedBy(10);
        List<String> partial = List.of(
                "",  // nothing at all
                "GET /v1/mod",  // half a request line
                "GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n",  // headers that never end
                "POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\n\r\n{\"model\": ");  // body
        for (String sent : partial) {
            try (Socket socket = connect(server)) {
                socket.getOutputStream().write(sent.getBytes(StandardCharsets.US_ASCII));
                assertTrue(closedWithin(socket, within), "still open: " + sent);
            }
        }
        // headers sent a line at a time, each sooner than the timeout, all of them later than it
        try (Socket socket = connect(server)) {
            OutputStream out = socket.getOutputStream();
            out.write("GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1\r\n".getBytes(StandardCharsets.US_ASCII));
            boolean closed = false;
            long end = System.nanoTime() + within.toNanos();
            for (int i = 0; !closed && System.nanoTime() < end; i++) {
                try {
                    out.write(("X-Slow-" + i + ": 1\r\n").getBytes(StandardCharsets.US_ASCII));
                    out.flush();
                } catch (IOException e) {
                    closed = true;
                    break;
                }
                closed = closedWithin(socket, READ_TIMEOUT.dividedBy(4));
            }
            assertTrue(closed, "a dribble of headers kept the connection open");
        }
        // and the server goes on
        assertEquals(200, get(server, "/health", "127.0.0.1").status());
    }

    @Test
    void connectionCloseClosesTheConnection() throws Exception {
        // a read timeout far longer than the wait below: only the answer's end can close the connection
        try (MoloraServer s = MoloraServer.start(engine, config().withReadTimeout(Duration.ofMinutes(5)))) {
            for (String request : List.of(request("GET", "/v1/models", "127.0.0.1", null, "Connection", "close"),
                    request("POST", "/v1/completions", "127.0.0.1", COMPLETION, "Connection", "close"),
                    request("POST", "/v1/completions", "127.0.0.1", "{}", "Connection", "close"),
                    request("GET", "/nowhere", "127.0.0.1", null, "Connection", "keep-alive, close"))) {
                try (Socket socket = connect(s)) {
                    socket.getOutputStream().write(request.getBytes(StandardCharsets.UTF_8));
                    Reply r = read(socket.getInputStream());
                    assertEquals("close", r.headers().get("connection"), r.toString());
                    assertTrue(closedWithin(socket, Duration.ofSeconds(20)), "still open after " + request);
                }
            }
            // without it, the connection takes the next request
            try (Socket socket = connect(s)) {
                for (int i = 0; i < 3; i++) {
                    socket.getOutputStream().write(request("GET", "/v1/models", "127.0.0.1", null)
                            .getBytes(StandardCharsets.UTF_8));
                    assertEquals(200, read(socket.getInputStream()).status());
                }
                assertFalse(closedWithin(socket, Duration.ofSeconds(1)));
            }
        }
    }

    @Test
    void aClientLeavingMidBodyIsA400AndOneLogLine() throws Exception {
        String before = metrics(server);
        List<LogRecord> records = logged(() -> {
            try (Socket socket = connect(server)) {
                socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"model\": \"testbed-base\", ").getBytes(StandardCharsets.UTF_8));
                socket.getOutputStream().flush();
                Thread.sleep(200);
            }  // gone, 970 bytes short
            long end = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (!metrics(server).contains("endpoint=\"/v1/completions\",code=\"400\"} "
                    + (count(before, "/v1/completions", 400) + 1))) {
                assertTrue(System.nanoTime() < end, "no 400 counted: " + metrics(server));
                Thread.sleep(20);
            }
            Thread.sleep(300);  // whatever else would be logged
        });
        List<LogRecord> warnings = records.stream().filter(r -> r.getLevel().intValue() >= Level.INFO.intValue())
                .toList();
        assertEquals(1, warnings.size(), () -> warnings.stream().map(r -> r.getLoggerName() + ": " + r.getMessage())
                .toList().toString());
        LogRecord r = warnings.getFirst();
        assertNull(r.getThrown(), "no stack trace");
        assertTrue(r.getMessage().contains("POST /v1/completions") && r.getMessage().contains("left before"),
                r.getMessage());
        assertFalse(r.getMessage().contains("\n"), r.getMessage());
        // a body that stops coming: closed after the read timeout, one line too
        records = logged(() -> {
            try (Socket socket = connect(server)) {
                socket.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        + "Content-Length: 1000\r\n\r\n{\"model\": ").getBytes(StandardCharsets.UTF_8));
                assertTrue(closedWithin(socket, READ_TIMEOUT.multipliedBy(10)));
            }
            Thread.sleep(300);
        });
        List<LogRecord> late = records.stream().filter(x -> x.getLevel().intValue() >= Level.INFO.intValue()).toList();
        assertEquals(1, late.size(), late.stream().map(LogRecord::getMessage).toList().toString());
        assertTrue(late.getFirst().getMessage().contains("--read-timeout"), late.getFirst().getMessage());
        assertNull(late.getFirst().getThrown());
        // the server goes on
        assertEquals(200, post(server, "/v1/completions", "127.0.0.1", COMPLETION).status());
    }

    static long count(String metrics, String endpoint, int code) {
        String key = "molora_requests_total{endpoint=\"" + endpoint + "\",code=\"" + code + "\"} ";
        for (String line : metrics.split("\n")) {
            if (line.startsWith(key)) {
                return Long.parseLong(line.substring(key.length()));
            }
        }
        return 0;
    }

    // ---- a body is one JSON value

    @Test
    void aBodyWithMoreAfterItsJsonValueIsA400() throws Exception {
        String ok = "{\"model\": \"testbed-base\", \"prompt\": \"Hi\", \"max_tokens\": 1}";
        for (String body : List.of(ok + " xyz", ok + ok, "{}{}", ok + " 1", ok + " ]", ok + " {")) {
            Reply r = post(server, "/v1/completions", "127.0.0.1", body);
            assertEquals(400, r.status(), body + " -> " + r.body());
            String message = r.error().get("message").asText();
            assertTrue(message.contains("more after its JSON value"), message);
        }
        // white space after it is fine
        assertEquals(200, post(server, "/v1/completions", "127.0.0.1", " \n" + ok + " \r\n\t ").status());
    }

    @Test
    void aLongStringIsGovernedByTheBodyLimit() throws Exception {
        // longer than Jackson's own limit on strings (20 M characters): in a field nobody reads
        String longString = "x".repeat(21_000_000);
        String body = "{\"model\": \"testbed-base\", \"prompt\": \"Hi\", \"max_tokens\": 1, \"user\": \"" + longString
                + "\"}";
        try (MoloraServer s = MoloraServer.start(engine, config().withMaxBodyBytes(32 << 20))) {
            Reply r = post(s, "/v1/completions", "127.0.0.1", body);
            assertEquals(200, r.status(), r.body().length() > 300 ? r.body().substring(0, 300) : r.body());
        }
        // (over the default limit it is a 413: ServerTest)
        // what is still a parser limit says so
        Reply r = post(server, "/v1/completions", "127.0.0.1", "{\"max_tokens\": " + "9".repeat(2000) + "}");
        assertEquals(400, r.status());
        String message = r.error().get("message").asText();
        assertTrue(message.contains("Number value length") && !message.contains("StreamReadConstraints"), message);
    }

    // ---- queued requests whose clients left

    @Test
    void queuedRequestsWhoseClientsLeftFreeTheirPlacesAtOnce() throws Exception {
        List<LogRecord> records = logged(this::clientsLeaveTheQueue);
        List<LogRecord> warnings = records.stream().filter(r -> r.getLevel().intValue() >= Level.WARNING.intValue())
                .toList();
        assertTrue(warnings.isEmpty(), warnings.stream().map(LogRecord::getMessage).toList().toString());
    }

    void clientsLeaveTheQueue() throws Exception {
        try (Engine e = open();
             MoloraServer s = MoloraServer.start(e, config().withQueueLimit(2))) {
            String endless = "{\"model\": \"code\", \"prompt\": \"def f(x):\", \"max_tokens\": 100000, \"stream\": true}";
            try (ServerTest.Stream running = new ServerTest.Stream(s, endless)) {
                assertNotNull(running.next());  // it holds the one sequence
                for (int round = 0; round < 3; round++) {
                    List<Socket> clients = new ArrayList<>();
                    for (boolean stream : new boolean[] {false, true}) {
                        Socket c = connect(s);
                        c.getOutputStream().write(request("POST", "/v1/completions", "127.0.0.1",
                                "{\"model\": \"testbed-base\", \"prompt\": \"Hi\", \"max_tokens\": 3, \"stream\": "
                                        + stream + "}").getBytes(StandardCharsets.UTF_8));
                        clients.add(c);
                    }
                    awaitMetric(s, "molora_queue_depth", 2, Duration.ofSeconds(30));
                    for (Socket c : clients) {
                        c.close();
                    }
                    // long before the running request ends (it would not, in this test)
                    awaitMetric(s, "molora_queue_depth", 0, Duration.ofSeconds(10));
                }
                assertNotNull(running.next());  // still decoding
                // a live request gets a place in the queue, not a 429
                java.util.concurrent.CompletableFuture<Reply> live = java.util.concurrent.CompletableFuture.supplyAsync(
                        () -> {
                            try {
                                return post(s, "/v1/completions", "127.0.0.1", COMPLETION);
                            } catch (IOException x) {
                                throw new IllegalStateException(x);
                            }
                        });
                awaitMetric(s, "molora_queue_depth", 1, Duration.ofSeconds(30));
                running.close();
                Reply r = live.get();
                assertEquals(200, r.status(), r.body());
            }
            assertEquals(0, count(metrics(s), "/v1/completions", 429), metrics(s));
            assertTrue(count(metrics(s), "/v1/completions", 499) >= 6, metrics(s));
        }
    }
}
