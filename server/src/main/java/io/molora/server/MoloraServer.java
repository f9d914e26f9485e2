package io.molora.server;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.helidon.http.HeaderNames;
import io.helidon.http.HeaderValues;
import io.helidon.http.Method;
import io.helidon.http.Status;
import io.helidon.webserver.CloseConnectionException;
import io.helidon.webserver.ServerConnectionException;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.WebServerConfig;
import io.helidon.webserver.cors.CorsFeature;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;
import io.helidon.webserver.http1.Http1Config;
import io.helidon.webserver.staticcontent.StaticContentService;
import io.molora.engine.Completion;
import io.molora.engine.CompletionService;
import io.molora.engine.CompletionSettings;
import io.molora.engine.Engine;
import io.molora.runtime.StopReason;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * molora's OpenAI-compatible HTTP server: {@code /v1/models}, {@code /v1/completions}, {@code /v1/chat/completions}
 * (streamed as server-sent events on request), {@code /health}, {@code /metrics}, and the page at {@code /}. Every
 * request goes through one {@link CompletionService}, so concurrent requests — on different adapters, mixes or the
 * router — share its batches. The HTTP side is Helidon SE on virtual threads; a handler only parses, submits and
 * writes what its request's listener hands it.
 */
public final class MoloraServer implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(MoloraServer.class.getName());
    private static final ObjectMapper JSON = new ObjectMapper();
    /**
     * Reads request bodies. Strings have no length limit of their own (Jackson's default, 20 M characters, would be
     * reported as invalid JSON): the body limit governs.
     */
    private static final ObjectMapper BODY = new ObjectMapper();

    static {
        BODY.getFactory().setStreamReadConstraints(StreamReadConstraints.builder()
                .maxStringLength(Integer.MAX_VALUE).build());
    }

    /** The page's files, in the jar (served at /). */
    static final String WEB = "io/molora/server/web";
    /** How often a request that is not streamed writes a space while it decodes (to notice a client gone away). */
    static final Duration HEARTBEAT = Duration.ofMillis(500);

    private final Engine engine;
    private final OpenAiAnswers answers;
    private final ServerConfig config;
    private final CompletionService service;
    private final ApiRequest.Models models;
    private final Metrics metrics;
    private final Connections connections;
    private final WebServer web;
    private final long created = System.currentTimeMillis() / 1000;
    private final AtomicLong ids = new AtomicLong();
    private final AtomicInteger handlers = new AtomicInteger();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final Object closing = new Object();
    private boolean closed;

    private MoloraServer(Engine engine, ServerConfig config) {
        this.engine = engine;
        this.answers = new OpenAiAnswers(engine.model().tokenizer(), engine.adapterNames());
        this.config = config;
        this.service = engine.serve(new CompletionSettings(config.parallel(), Optional.empty(), false),
                config.queueLimit());
        this.connections = new Connections(config.readTimeout());
        try {
            this.models = new ApiRequest.Models(config.modelId(), engine.adapterNames(), service.tokenRouted());
            if (models.adapters().contains(config.modelId()) || models.adapters().contains(ApiRequest.Models.AUTO)) {
                throw new IllegalArgumentException("an adapter may not be named like the base model ('"
                        + config.modelId() + "') or '" + ApiRequest.Models.AUTO + "'");
            }
            this.metrics = new Metrics(service::queued, service::active, service::decodeStats);
            service.start();
            Duration timeout = config.readTimeout();
            WebServerConfig.Builder server = WebServer.builder()
                    .host(config.host())
                    .port(config.port())
                    // the read timeout: the headers and the body (Connections), and the wait for a request line (a
                    // connection that sends nothing; Helidon checks every period, its clock ticks once a second)
                    .protocolsDiscoverServices(false)  // HTTP/1.1 alone, with this listener
                    .addProtocol(Http1Config.builder().addReceiveListener(connections).build())
                    .idleConnectionTimeout(timeout)
                    .idleConnectionPeriod(timeout.compareTo(Duration.ofSeconds(2)) < 0 ? Duration.ofMillis(250)
                            : Duration.ofSeconds(1))
                    // the body limit is checked by the handlers (413 in OpenAI's format); this is a backstop
                    .maxPayloadSize(Math.max(config.maxBodyBytes() * 2, config.maxBodyBytes() + 65536))
                    .shutdownHook(false)
                    // no feature joins because its jar is there (CORS would, with its own defaults)
                    .featuresDiscoverServices(false)
                    .routing(this::routes);
            if (!config.corsOrigins().isEmpty()) {
                server.addFeature(cors(config.corsOrigins()));
            }
            this.web = server.build().start();
            if (!web.isRunning()) {
                // Helidon logs why and returns a stopped server
                throw new IllegalStateException("could not listen on " + config.host() + ":" + config.port()
                        + whyNotListening(config));
            }
        } catch (RuntimeException e) {
            service.close();
            connections.close();
            throw e;
        }
    }

    /**
     * Cross-origin requests from pages on {@code origins} (or any, for {@code *}): Helidon's CORS support answers
     * their preflights and marks their answers readable. Any request header is allowed (clients such as OpenAI's
     * JavaScript library send their own), the methods are the API's.
     */
    private static CorsFeature cors(List<String> origins) {
        return CorsFeature.create(c -> c.addDefaults(false).pathsDiscoverServices(false).addPath(p -> p
                .pathPattern("/*")
                .allowOrigins(Set.copyOf(origins))
                .allowMethods(Set.of("GET", "POST"))
                .allowHeaders(Set.of("*"))
                .maxAge(Duration.ofHours(1))));
    }

    /** Why binding {@code host:port} fails, as the JDK says it (empty when it does not fail now). */
    private static String whyNotListening(ServerConfig config) {
        try (java.net.ServerSocket s = new java.net.ServerSocket(config.port(), 1,
                java.net.InetAddress.getByName(config.host()))) {
            return "";
        } catch (IOException | RuntimeException e) {
            return ": " + oneLine(e);
        }
    }

    /** Opens the completion service over {@code engine} and starts listening; close it before the engine. */
    public static MoloraServer start(Engine engine, ServerConfig config) {
        return new MoloraServer(engine, config);
    }

    /** The port it listens on (the real one when the config asked for 0). */
    public int port() {
        return web.port();
    }

    public ServerConfig config() {
        return config;
    }

    /** Blocks until the server has been closed. */
    public void awaitStopped() throws InterruptedException {
        stopped.await();
    }

    private void routes(HttpRouting.Builder r) {
        r.addFilter((chain, req, res) -> {
            ApiError refused = refusal(req);
            if (refused != null) {
                error(req, res, refused);
            } else if (req.prologue().method() != Method.OPTIONS && needsKey(req) && !authorized(req)) {
                // a browser's CORS preflight carries no credentials
                error(req, res, new ApiError(401, "authentication_error", null, "invalid_api_key",
                        "a valid API key is required: send the header 'Authorization: Bearer KEY'"));
            } else {
                chain.proceed();  // errors are answered inside
            }
            if (Connections.closeAfter() || req.headers().containsToken(HeaderValues.CONNECTION_CLOSE)) {
                // Helidon answers "Connection: close" with that header but would wait for the next request
                throw new CloseConnectionException("closed after the answer");
            }
        });
        // 503 once shutting down, so a load balancer stops sending
        r.get("/health", (req, res) -> send(req, res, service.accepting() ? 200 : 503,
                JSON.createObjectNode().put("status", service.accepting() ? "ok" : "shutting_down")));
        r.get("/metrics", (req, res) -> {
            res.header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            metrics.request(endpoint(req), 200);
            res.send(metrics.prometheus().getBytes(StandardCharsets.UTF_8));
        });
        r.get("/v1/models", (req, res) -> send(req, res, 200, modelList()));
        r.get("/v1/models/{id}", (req, res) -> {
            String id = req.path().pathParameters().get("id");
            if (!models.all().contains(id)) {
                throw ApiError.notFound("model", "model_not_found", "The model '" + id + "' does not exist");
            }
            send(req, res, 200, model(id));
        });
        r.post("/v1/completions", (req, res) -> complete(req, res, false));
        r.post("/v1/chat/completions", (req, res) -> complete(req, res, true));
        if (MoloraServer.class.getClassLoader().getResource(WEB + "/index.html") != null) {
            r.register("/", StaticContentService.builder(WEB).welcomeFileName("index.html").build());
        }
        // a preflight the CORS support let through (without --cors-origin there is none): nothing to add
        r.options((req, res) -> res.status(204).send());
        r.any((req, res) -> {
            drain(req);
            throw ApiError.notFound(null, null, "no such endpoint: " + req.prologue().method().text() + " "
                    + req.path().path());
        });
        r.error(ApiError.class, (req, res, e) -> error(req, res, e));
        r.error(Throwable.class, (req, res, t) -> {
            LOG.log(Level.WARNING, "request " + req.path().path() + " failed: " + t, t);
            error(req, res, new ApiError(500, "server_error", null, null, "internal error: " + oneLine(t)));
        });
    }

    // ---- who may call: Host and Origin

    /**
     * Why the request is refused before anything else (403), or null. Without an API key, a request must be addressed
     * to this machine by address or as {@code localhost} (or the {@code --host} name): a web page whose own name was
     * pointed at this machine (DNS rebinding) sends its name as the Host. With or without a key, a request a browser
     * sends from a page must come from the server's own page (same origin) or an origin of {@code --cors-origin}.
     */
    private ApiError refusal(ServerRequest req) {
        String host = req.headers().first(HeaderNames.HOST).orElse("");
        if (config.apiKey().isEmpty() && !addressedHere(host, config.host())) {
            return new ApiError(403, "permission_error", null, "host_not_allowed", "requests for the host '"
                    + host + "' are refused: without --api-key the server answers only requests sent to localhost or"
                    + " to an IP address, so that no web page can reach it through a name of its own (DNS rebinding);"
                    + " use an address, or start the server with --api-key");
        }
        Optional<String> origin = req.headers().first(HeaderNames.ORIGIN);
        if (origin.isPresent() && !sameOrigin(origin.get(), host) && !config.corsOrigins().contains("*")
                && config.corsOrigins().stream().noneMatch(origin.get()::equalsIgnoreCase)) {
            return new ApiError(403, "permission_error", null, "origin_not_allowed", "requests from pages on '"
                    + origin.get() + "' are refused: the server answers its own page and the origins named by"
                    + " --cors-origin");
        }
        return null;
    }

    /**
     * Whether a Host header names this machine in a way no web page can take over: {@code localhost}, an IP address
     * (a page reaches an address only under the address itself, never under its own name), or the name the server
     * was told to listen on.
     */
    static boolean addressedHere(String authority, String boundHost) {
        String host = hostOf(authority);
        if (host == null) {
            return false;
        }
        if (host.equals("localhost") || host.equalsIgnoreCase(boundHost.strip())) {
            return true;
        }
        try {
            InetAddress.ofLiteral(host);
            return true;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** The host of {@code host[:port]} or {@code [v6][:port]}, in lower case without brackets; null when malformed. */
    private static String hostOf(String authority) {
        String a = authority.strip().toLowerCase(Locale.ROOT);
        if (a.startsWith("[")) {
            int end = a.indexOf(']');
            if (end < 0 || !(end == a.length() - 1 || a.charAt(end + 1) == ':')) {
                return null;
            }
            return a.substring(1, end);
        }
        int colon = a.indexOf(':');
        String h = colon < 0 ? a : a.substring(0, colon);
        if (h.endsWith(".")) {
            h = h.substring(0, h.length() - 1);  // localhost. is localhost
        }
        return h.isEmpty() || h.contains(":") ? null : h;
    }

    /** The port of {@code host[:port]} ({@code dflt} when it names none), or -1 when malformed. */
    private static int portOf(String authority, int dflt) {
        String a = authority.strip();
        int close = a.lastIndexOf(']');
        int colon = a.lastIndexOf(':');
        if (colon < 0 || colon < close) {
            return dflt;
        }
        try {
            return Integer.parseInt(a.substring(colon + 1));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Whether a page on {@code origin} is the server's own: {@code http://} and the request's host and port. */
    static boolean sameOrigin(String origin, String hostHeader) {
        if (!origin.regionMatches(true, 0, "http://", 0, 7)) {
            return false;
        }
        String authority = origin.substring(7);
        String host = hostOf(authority);
        return host != null && host.equals(hostOf(hostHeader)) && portOf(authority, 80) == portOf(hostHeader, 80)
                && portOf(authority, 80) > 0;
    }

    /** GET /health and the page's files are open; the API and the metrics need the key when there is one. */
    private boolean needsKey(ServerRequest req) {
        if (config.apiKey().isEmpty()) {
            return false;
        }
        String p = req.path().path();
        return p.startsWith("/v1/") || p.equals("/v1") || p.equals("/metrics");
    }

    private boolean authorized(ServerRequest req) {
        Optional<String> h = req.headers().first(HeaderNames.AUTHORIZATION);
        if (h.isEmpty() || !h.get().regionMatches(true, 0, "Bearer ", 0, 7)) {
            return false;
        }
        byte[] given = h.get().substring(7).strip().getBytes(StandardCharsets.UTF_8);
        byte[] key = config.apiKey().get().getBytes(StandardCharsets.UTF_8);
        return MessageDigest.isEqual(given, key);  // constant time
    }

    private ObjectNode modelList() {
        ObjectNode root = JSON.createObjectNode().put("object", "list");
        ArrayNode data = root.putArray("data");
        models.all().forEach(id -> data.add(model(id)));
        return root;
    }

    private ObjectNode model(String id) {
        ObjectNode m = JSON.createObjectNode().put("id", id).put("object", "model").put("created", created)
                .put("owned_by", "molora");
        String kind = id.equals(models.base()) ? "base" : models.adapters().contains(id) ? "adapter" : "router";
        m.putObject("molora").put("kind", kind);
        return m;
    }

    // ---- completions

    /** A request's events, handed from the batch loop's thread to the handler's. */
    private sealed interface Event {}

    private record Started() implements Event {}

    private record Text(List<Completion.TokenRoute> pieces) implements Event {}

    private record Done(Completion completion) implements Event {}

    private record Failed(String message) implements Event {}

    /** The client closed the connection (its request is cancelled). */
    private record Gone() implements Event {}

    private static final class Events implements CompletionService.Listener {
        final LinkedBlockingQueue<Event> queue = new LinkedBlockingQueue<>();
        final Metrics metrics;
        /** Whether the handler wants the text piece by piece (a stream); otherwise only the start and the end. */
        final boolean pieces;

        Events(Metrics metrics, boolean pieces) {
            this.metrics = metrics;
            this.pieces = pieces;
        }

        @Override
        public void started() {
            queue.add(new Started());
        }

        @Override
        public void text(List<Completion.TokenRoute> text) {
            metrics.generated(text.size());
            if (pieces) {
                queue.add(new Text(text));  // a handler that waits for the end is not woken for every token
            }
        }

        @Override
        public void completed(Completion c) {
            metrics.promptTokens(c.promptTokens());
            metrics.adapterTokens(c.adapterTokens());
            queue.add(new Done(c));
        }

        @Override
        public void failed(String message) {
            queue.add(new Failed(message));
        }

        /** The next event, or null when the deadline passed. */
        Event next(long deadline) throws InterruptedException {
            return queue.poll(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
    }

    private void complete(ServerRequest req, ServerResponse res, boolean chat) throws Exception {
        long deadline = System.nanoTime() + config.requestTimeout().toNanos();
        if (!service.accepting()) {
            throw shuttingDown();
        }
        JsonNode body = readJson(req);
        String id = (chat ? "chatcmpl-" : "cmpl-") + Long.toString(created, 36) + ids.incrementAndGet();
        ApiRequest ar = ApiRequest.parse(body, chat, models, config, id);
        Events events = new Events(metrics, ar.stream());
        CompletionService.Ticket ticket;
        try {
            ticket = service.submit(ar.completion(), ar.showRoutes() || ar.logprobs(), events);
        } catch (CompletionService.QueueFullException e) {
            throw new ApiError(429, "rate_limit_error", null, null, e.getMessage());
        } catch (IllegalStateException e) {
            throw shuttingDown();
        } catch (IllegalArgumentException e) {
            throw ApiError.badRequest(chat ? "messages" : "prompt", e.getMessage());
        }
        handlers.incrementAndGet();
        // the client leaving is noticed at once, queued or not: its place in the queue or its sequence is freed
        Connections.Watch watch = Connections.watch(() -> {
            ticket.cancel();
            events.queue.add(new Gone());
        });
        try {
            if (ar.stream()) {
                stream(req, res, ar, events, ticket, deadline);
            } else {
                whole(req, res, ar, events, ticket, deadline);
            }
        } finally {
            if (watch != null) {
                watch.close();
            }
            ticket.cancel();  // no-op when it ended; frees its sequence when the handler gave up on it
            handlers.decrementAndGet();
        }
    }

    /**
     * A whole response. Once the request is decoding, every {@link #HEARTBEAT} the status is sent (the first time) and
     * a space goes out (JSON allows leading white space): writing is how a client that went away is noticed, and its
     * request is cancelled at the next step instead of decoding for nobody. A request that ends sooner gets a plain
     * response, with its real status.
     */
    private void whole(ServerRequest req, ServerResponse res, ApiRequest ar, Events events,
            CompletionService.Ticket ticket, long deadline) throws Exception {
        OutputStream out = null;
        boolean started = false;
        while (true) {
            Event e = events.next(started ? Math.min(deadline, System.nanoTime() + HEARTBEAT.toNanos()) : deadline);
            if (e == null && System.nanoTime() - deadline < 0) {
                try {
                    if (out == null) {
                        res.status(200);
                        res.header(HeaderNames.CONTENT_TYPE, "application/json");
                        closeHeader(res);
                        out = res.outputStream();
                    }
                    out.write(' ');
                    out.flush();
                } catch (IOException | UncheckedIOException | ServerConnectionException x) {
                    ticket.cancel();
                    metrics.request(endpoint(req), 499);  // nginx's "client closed request"
                    try {
                        if (out != null) {
                            out.close();
                        }
                    } catch (IOException | UncheckedIOException | ServerConnectionException ignored) {
                        // the connection is gone already
                    }
                    return;  // the client went away
                }
                continue;
            }
            if (e == null) {
                ticket.cancel();
                ApiError timeout = timedOut();
                if (out == null) {
                    throw timeout;
                }
                finishWhole(req, out, timeout.json(JSON), timeout.status);
                return;
            }
            switch (e) {
                case Started s -> started = true;
                case Text t -> { }  // not asked for
                case Gone g -> {
                    abandon(req, res, out);
                    return;
                }
                case Failed f -> {
                    ApiError err = new ApiError(500, "server_error", null, null, f.message());
                    if (out == null) {
                        throw err;
                    }
                    finishWhole(req, out, err.json(JSON), err.status);
                    return;
                }
                case Done d -> {
                    Completion c = d.completion();
                    if (c.stopReason() == StopReason.CANCELLED) {
                        ApiError err = service.accepting() ? timedOut() : shutDown();
                        if (out == null) {
                            throw err;
                        }
                        finishWhole(req, out, err.json(JSON), err.status);
                        return;
                    }
                    ObjectNode json = answers.whole(ar, c);
                    if (out == null) {
                        send(req, res, 200, json);
                    } else {
                        finishWhole(req, out, json, 200);
                    }
                    return;
                }
            }
        }
    }

    /**
     * Ends the answer to a client that left: counted as 499 (nginx's "client closed request"); what is written, if it
     * can be, goes nowhere, but Helidon wants every request answered.
     */
    private void abandon(ServerRequest req, ServerResponse res, OutputStream out) {
        metrics.request(endpoint(req), 499);
        try {
            if (out != null) {
                out.close();
            } else if (!res.isSent()) {
                res.status(Status.create(499, "Client Closed Request"));
                res.send();
            }
        } catch (IOException | RuntimeException e) {
            // the connection is gone
        }
    }

    private void finishWhole(ServerRequest req, OutputStream out, ObjectNode json, int status) {
        metrics.request(endpoint(req), status);
        try (out) {
            out.write(JSON.writeValueAsBytes(json));
        } catch (IOException | UncheckedIOException | ServerConnectionException e) {
            // the client went away at the end
        }
    }

    /** Server-sent events: a chunk per release of text, the last with the finish reason, then {@code [DONE]}. */
    private void stream(ServerRequest req, ServerResponse res, ApiRequest ar, Events events,
            CompletionService.Ticket ticket, long deadline) throws Exception {
        // wait for the request to start (or fail) before the status goes out
        Event first = events.next(deadline);
        if (first == null) {
            ticket.cancel();
            throw timedOut();
        }
        if (first instanceof Failed f) {
            throw new ApiError(500, "server_error", null, null, f.message());
        }
        if (first instanceof Gone) {
            abandon(req, res, null);
            return;
        }
        String id = ar.completion().id();
        metrics.request(endpoint(req), 200);
        res.status(200);
        res.header(HeaderNames.CONTENT_TYPE, "text/event-stream; charset=utf-8");
        res.header(HeaderNames.CACHE_CONTROL, "no-cache");
        closeHeader(res);
        try (OutputStream sse = res.outputStream()) {
            if (ar.chat()) {
                ObjectNode delta = JSON.createObjectNode().put("role", "assistant").put("content", "");
                emit(sse, answers.chunk(ar, id, delta, null));
            }
            Event e = first;
            int offset = 0;  // of the next piece in the completion's text (a completion's logprobs.text_offset)
            while (true) {
                if (e == null) {
                    ticket.cancel();
                    emit(sse, timedOut().json(JSON));
                    break;
                }
                boolean end = false;
                switch (e) {
                    case Started s -> { }
                    case Gone g -> {
                        return;  // nobody to write to
                    }
                    case Text t -> {
                        emit(sse, answers.textChunk(ar, id, t.pieces(), offset));
                        offset += t.pieces().stream().mapToInt(p -> p.text().codePointCount(0, p.text().length())).sum();
                    }
                    case Failed f -> {
                        emit(sse, new ApiError(500, "server_error", null, null, f.message()).json(JSON));
                        end = true;
                    }
                    case Done d -> {
                        Completion c = d.completion();
                        if (c.stopReason() == StopReason.CANCELLED) {
                            emit(sse, (service.accepting() ? timedOut() : shutDown()).json(JSON));
                        } else {
                            emit(sse, answers.lastChunk(ar, id, c));
                            if (ar.includeUsage()) {
                                emit(sse, answers.usageChunk(ar, id, c));
                            }
                        }
                        end = true;
                    }
                }
                if (end) {
                    break;
                }
                e = events.next(deadline);
            }
            event(sse, "[DONE]");
        } catch (IOException | UncheckedIOException | ServerConnectionException x) {
            ticket.cancel();  // the client went away: its sequence is freed at the next step
        }
    }

    private static void emit(OutputStream sse, ObjectNode json) throws IOException {
        event(sse, JSON.writeValueAsString(json));
    }

    /** One server-sent event, {@code data: ...} and a blank line, sent at once (JSON has no raw newlines). */
    private static void event(OutputStream sse, String data) throws IOException {
        sse.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
        sse.flush();
    }


    // ---- bodies, answers, errors

    /**
     * The body, read within the read timeout and at most the body limit, as one JSON value with nothing after it but
     * white space. A client that leaves (or stalls) mid-body gets a 400 that nobody reads, and one log line.
     */
    private JsonNode readJson(ServerRequest req) {
        long limit = config.maxBodyBytes();
        OptionalLong declared = req.headers().contentLength();
        if (declared.isPresent() && declared.getAsLong() > limit) {
            throw tooLarge(declared.getAsLong());
        }
        byte[] bytes;
        String who = req.prologue().method().text() + " " + req.path().path() + " from " + peer(req);
        Connections.Deadline deadline = connections.arm();
        try (InputStream in = req.content().inputStream()) {
            bytes = in.readNBytes((int) Math.min(Integer.MAX_VALUE - 8, limit + 1));
        } catch (IOException | RuntimeException e) {
            throw bodyNotRead(who, deadline.end(), e);
        } finally {
            deadline.end();
        }
        if (bytes.length > limit) {
            throw tooLarge(-1);
        }
        if (bytes.length == 0) {
            throw ApiError.badRequest(null, "the request body is empty; send a JSON object");
        }
        try (JsonParser p = BODY.createParser(bytes)) {
            JsonNode value = BODY.readTree(p);
            if (value == null) {
                throw ApiError.badRequest(null, "the request body is empty; send a JSON object");
            }
            try {
                if (p.nextToken() != null) {
                    throw trailing(p);
                }
            } catch (JsonProcessingException e) {
                throw trailing(p);
            }
            return value;
        } catch (StreamConstraintsException e) {
            // numbers of more than 1000 digits, more than 1000 levels of nesting
            throw ApiError.badRequest(null, "the request body is refused: " + oneLine(e.getOriginalMessage())
                    .replaceFirst(", from `StreamReadConstraints\\.[A-Za-z]+\\(\\)`", ""));
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? ""
                    : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
            throw ApiError.badRequest(null, "the request body is not valid JSON: " + oneLine(e.getOriginalMessage())
                    + where);
        } catch (IOException e) {
            throw ApiError.badRequest(null, "the request body is not valid JSON: " + oneLine(e));
        }
    }

    private static ApiError trailing(JsonParser p) {
        var at = p.currentLocation();
        return ApiError.badRequest(null, "the request body has more after its JSON value (line " + at.getLineNr()
                + ", column " + at.getColumnNr() + "); send one JSON object");
    }

    /**
     * The answer to a body that could not be read, and its one log line: the client left mid-body, or did not send it
     * within the read timeout (then the connection is closed already).
     */
    private ApiError bodyNotRead(String who, boolean late, Throwable e) {
        Connections.closeAfterAnswer();  // what is left of the body is not read
        String why = late ? "the body did not arrive within " + seconds(config.readTimeout())
                + " (--read-timeout); the connection is closed"
                : "the client left before its whole body arrived (" + oneLine(e) + ")";
        LOG.info(who + ": " + why);
        return ApiError.badRequest(null, "could not read the request body: " + why);
    }

    /** The client's address and port, as far as it is known (not once the connection is closed). */
    private static String peer(ServerRequest req) {
        try {
            return req.remotePeer().host() + ":" + req.remotePeer().port();
        } catch (RuntimeException e) {
            return "a client";
        }
    }

    private static String seconds(Duration d) {
        return d.toMillis() % 1000 == 0 ? d.toSeconds() + " s" : d.toMillis() / 1000.0 + " s";
    }

    /**
     * Reads and drops what is left of a body that will not be used (a request refused before it was read), within the
     * read timeout, so that the connection can take the next request; when it cannot, the connection closes after the
     * answer.
     */
    private void drain(ServerRequest req) {
        if (req.content().consumed()) {
            return;
        }
        try (Connections.Deadline d = connections.arm()) {
            req.content().consume();
        } catch (RuntimeException e) {
            Connections.closeAfterAnswer();
        }
    }

    private ApiError tooLarge(long size) {
        return new ApiError(413, "invalid_request_error", null, null, "the request body is larger than "
                + config.maxBodyBytes() + " bytes" + (size >= 0 ? " (" + size + " bytes)" : "")
                + "; the limit is the server's --max-body-size");
    }

    private ApiError timedOut() {
        return new ApiError(504, "timeout_error", null, null, "the request ran longer than the server's time limit ("
                + config.requestTimeout().toSeconds() + " s, --timeout) and was cancelled");
    }

    private static ApiError shuttingDown() {
        return new ApiError(503, "server_error", null, null, "the server is shutting down");
    }

    private static ApiError shutDown() {
        return new ApiError(503, "server_error", null, null,
                "the server shut down before the request finished; it was cancelled");
    }

    private void send(ServerRequest req, ServerResponse res, int status, ObjectNode json) throws IOException {
        metrics.request(endpoint(req), status);
        closeHeader(res);
        res.status(status);
        res.header(HeaderNames.CONTENT_TYPE, "application/json");
        res.send(JSON.writeValueAsBytes(json));
    }

    private void error(ServerRequest req, ServerResponse res, ApiError e) {
        if (res.isSent()) {
            return;
        }
        drain(req);
        try {
            if (e.status == 401) {
                res.header(HeaderNames.WWW_AUTHENTICATE, "Bearer");
            }
            send(req, res, e.status, e.json(JSON));
        } catch (IOException | RuntimeException x) {
            LOG.fine("could not answer " + req.path().path() + ": " + x);
        }
    }

    /** Says {@code Connection: close} when the connection closes after this answer. */
    private static void closeHeader(ServerResponse res) {
        if (Connections.closeAfter()) {
            res.header(HeaderValues.CONNECTION_CLOSE);
        }
    }

    private static String endpoint(ServerRequest req) {
        String p = req.path().path();
        return switch (p) {
            case "/v1/completions", "/v1/chat/completions", "/v1/models", "/health", "/metrics" -> p;
            default -> p.startsWith("/v1/models/") ? "/v1/models/{id}" : "other";
        };
    }

    private static String oneLine(Throwable t) {
        return oneLine(t.getMessage() == null ? t.getClass().getSimpleName() : t.getMessage());
    }

    private static String oneLine(String s) {
        String line = s == null ? "" : s.strip();
        int nl = line.indexOf('\n');
        return nl < 0 ? line : line.substring(0, nl);
    }

    // ---- shutdown

    /**
     * Stops taking requests (503), lets those in flight finish for up to the config's grace period, cancels the rest
     * (their clients get an error), then stops listening. Idempotent; the engine stays open.
     */
    @Override
    public void close() {
        synchronized (closing) {
            if (closed) {
                return;
            }
            closed = true;
        }
        try {
            service.stopAccepting();
            try {
                if (!service.awaitIdle(config.shutdownGrace())) {
                    LOG.info("shutdown: cancelling " + (service.queued() + service.active()) + " request(s) still running");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            service.close();
            // the handlers write their last answers (cancelled requests: an error)
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (handlers.get() > 0 && System.nanoTime() < end) {
                Thread.onSpinWait();
                try {
                    Thread.sleep(10);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
            web.stop();
        } finally {
            connections.close();
            stopped.countDown();
        }
    }
}
