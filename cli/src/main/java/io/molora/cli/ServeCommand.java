package io.molora.cli;

import io.molora.engine.Engine;
import io.molora.engine.RouterSpec;
import io.molora.server.MoloraServer;
import io.molora.server.ServerConfig;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** {@code molora serve}: the OpenAI-compatible HTTP server, until SIGTERM or Ctrl-C. */
@Command(name = "serve", mixinStandardHelpOptions = true, defaultValueProvider = ConfigDefaults.class,
        description = {"Serve the model, its adapters and router over an OpenAI-compatible HTTP API.",
                "",
                "Models: the base model (--alias, default the file name), each --lora NAME, and 'auto' (the token"
                        + " router of --router/--routes). POST /v1/completions and /v1/chat/completions (stream: server-sent"
                        + " events); GET /v1/models, /health, /metrics, and the page at /. Concurrent requests share"
                        + " batches (continuous batching over --parallel sequences). See docs/SERVER.md."},
        footerHeading = "%nExit codes:%n",
        footer = {"  143, 130  stopped by SIGTERM or Ctrl-C (the JVM's codes), after the graceful shutdown",
                "  1  could not start (the message says why)", "  2  bad command line"})
final class ServeCommand implements Callable<Integer> {
    /** Helidon's loggers, held so their level sticks (JUL keeps loggers weakly). */
    private static final Logger HELIDON = Logger.getLogger("io.helidon");

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Mixin
    AdapterOptions adapterOptions;

    @Option(names = "--host", paramLabel = "ADDR", defaultValue = "127.0.0.1",
            description = "Address to listen on (default: ${DEFAULT-VALUE}, this machine only).")
    String host;

    @Option(names = "--port", paramLabel = "N", defaultValue = "8080", converter = OptionRanges.Port.class,
            description = "Port to listen on, 0 = any free one (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = {"-np", "--parallel"}, paramLabel = "N", defaultValue = "4", converter = OptionRanges.Parallel.class,
            description = "Sequences decoded at once (default: ${DEFAULT-VALUE}); each gets ctx-size / N positions.")
    int parallel;

    @Option(names = "--api-key", paramLabel = "KEY",
            description = "Require 'Authorization: Bearer KEY' on the API and /metrics (GET /health and the page stay open).")
    String apiKey;

    @Option(names = "--cors-origin", paramLabel = "ORIGIN",
            description = "Let pages from ORIGIN (scheme://host[:port], e.g. http://localhost:3000) call the API from a browser; "
                    + "repeat for more, * for any. Default: none, only the server's own page.")
    List<String> corsOrigins = new ArrayList<>();

    @Option(names = {"-a", "--alias"}, paramLabel = "ID",
            description = "The base model's id in /v1/models (default: the model file name without .gguf).")
    String alias;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "-1", converter = OptionRanges.TokenLimit.class,
            description = "Max tokens of requests that do not say, -1 = until end of text or a full sequence (default: ${DEFAULT-VALUE}).")
    int nPredict;

    @Option(names = "--max-queue", paramLabel = "N", defaultValue = "64", converter = OptionRanges.NonNegative.class,
            description = "Requests that may wait for a sequence; more are answered 429 (default: ${DEFAULT-VALUE}).")
    int maxQueue;

    @Option(names = "--max-body-size", paramLabel = "BYTES", defaultValue = "1048576", converter = OptionRanges.Positive.class,
            description = "Largest request body; larger ones are answered 413 (default: ${DEFAULT-VALUE}).")
    int maxBody;

    @Option(names = {"-to", "--timeout"}, paramLabel = "S", defaultValue = "600", converter = OptionRanges.Positive.class,
            description = "Seconds a request may run before it is cancelled and answered 504 (default: ${DEFAULT-VALUE}).")
    int timeout;

    @Option(names = "--read-timeout", paramLabel = "S", defaultValue = "30", converter = OptionRanges.Positive.class,
            description = "Seconds a client may take to send a request's headers, and then its body, and may stay silent"
                    + " between requests; slower connections are closed (default: ${DEFAULT-VALUE}).")
    int readTimeout;

    @Option(names = "--shutdown-timeout", paramLabel = "S", defaultValue = "30", converter = OptionRanges.NonNegative.class,
            description = "On SIGTERM, seconds requests in flight may take to finish before they are cancelled (default: ${DEFAULT-VALUE}).")
    int shutdownTimeout;

    @Override
    public Integer call() throws Exception {
        CommandLine cmd = spec.commandLine();
        PrintWriter err = cmd.getErr();
        model.require(cmd);
        if (apiKey != null && apiKey.isBlank()) {
            throw new ParameterException(cmd, "--api-key is empty");
        }
        String id = alias != null ? alias : model.model.getFileName().toString().replaceFirst("(?i)\\.gguf$", "");
        for (String origin : corsOrigins) {
            try {
                ServerConfig.checkOrigin(origin);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(cmd, "--cors-origin: " + e.getMessage());
            }
        }
        ServerConfig config = new ServerConfig(host, port, id, Optional.ofNullable(apiKey), parallel, maxQueue, maxBody,
                Duration.ofSeconds(timeout), Duration.ofSeconds(readTimeout), Duration.ofSeconds(shutdownTimeout),
                sampling.params(), nPredict == -1 ? Integer.MAX_VALUE : nPredict, corsOrigins);
        if (!model.verbose) {
            HELIDON.setLevel(Level.WARNING);
        }
        RouterSpec router = adapterOptions.tokenRouter(cmd).orElse(new RouterSpec.Base());
        CountDownLatch engineClosed = new CountDownLatch(1);
        try (Engine engine = model.open(adapterOptions.specs(cmd), router)) {
            MoloraServer server;
            try {
                server = MoloraServer.start(engine, config);
            } catch (IllegalArgumentException e) {
                throw new ParameterException(cmd, e.getMessage());
            }
            // SIGTERM / Ctrl-C: stop taking requests, let those in flight finish (or cancel them), close the engine
            Thread hook = Thread.ofPlatform().unstarted(() -> {
                server.close();
                try {
                    engineClosed.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            });
            Runtime.getRuntime().addShutdownHook(hook);
            if (!config.loopback() && config.apiKey().isEmpty()) {
                err.println("molora: warning: listening on " + host + " without --api-key: anyone who can reach this"
                        + " address can use the server (by IP address: requests for a host name other than localhost"
                        + " are refused)");
            }
            String shown = host.contains(":") ? "[" + host + "]" : host;
            err.println("molora: listening on http://" + shown + ":" + server.port());
            err.flush();
            server.awaitStopped();
        } finally {
            engineClosed.countDown();
        }
        return 0;
    }
}
