package io.molora.server;

import io.molora.runtime.SamplerParams;
import java.time.Duration;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * How the server runs.
 *
 * @param host            the address to bind (loopback by default)
 * @param port            0 = any free port
 * @param modelId         the base model's id in {@code /v1/models} (llama-server's {@code --alias})
 * @param apiKey          when present, every API request needs {@code Authorization: Bearer KEY}
 * @param parallel        sequences decoded at once
 * @param queueLimit      requests that may wait for a sequence; more get 429
 * @param maxBodyBytes    larger request bodies get 413
 * @param requestTimeout  a request still running after this is cancelled
 * @param readTimeout     how long a client may take to send a request's headers, and then its body; a connection that
 *                        sends nothing for this long between requests is closed too
 * @param shutdownGrace   on shutdown, how long requests in flight may take to finish before they are cancelled
 * @param sampling        sampling of requests that do not set it (llama.cpp's defaults unless the command line says)
 * @param maxTokens       tokens per request when a request does not say ({@link Integer#MAX_VALUE}: until the end of
 *                        the text or a full sequence)
 * @param corsOrigins     the origins ({@code scheme://host[:port]}) whose pages may call the API from a browser, or
 *                        {@code *} for any; none: only the server's own page (same origin)
 */
public record ServerConfig(String host, int port, String modelId, Optional<String> apiKey, int parallel,
        int queueLimit, long maxBodyBytes, Duration requestTimeout, Duration readTimeout, Duration shutdownGrace,
        SamplerParams sampling, int maxTokens, List<String> corsOrigins) {
    /** What an origin looks like: a scheme, a host (a name, an IPv4 address or a bracketed IPv6 one), maybe a port. */
    private static final Pattern ORIGIN = Pattern.compile("[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#@\\s\\[\\]:]+|\\[[0-9a-fA-F:.]+\\])"
            + "(:[0-9]{1,5})?");

    public ServerConfig {
        Objects.requireNonNull(host, "host");
        Objects.requireNonNull(modelId, "modelId");
        Objects.requireNonNull(apiKey, "apiKey");
        Objects.requireNonNull(requestTimeout, "requestTimeout");
        Objects.requireNonNull(readTimeout, "readTimeout");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
        Objects.requireNonNull(sampling, "sampling");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
        }
        if (parallel < 1) {
            throw new IllegalArgumentException("parallel must be >= 1, got " + parallel);
        }
        if (queueLimit < 0) {
            throw new IllegalArgumentException("queue limit must be >= 0, got " + queueLimit);
        }
        if (maxBodyBytes < 1) {
            throw new IllegalArgumentException("body limit must be >= 1 byte, got " + maxBodyBytes);
        }
        if (readTimeout.compareTo(Duration.ofMillis(100)) < 0) {
            throw new IllegalArgumentException("read timeout must be >= 0.1 s, got " + readTimeout);
        }
        if (maxTokens < 0) {
            throw new IllegalArgumentException("max tokens must be >= 0, got " + maxTokens);
        }
        if (apiKey.isPresent() && apiKey.get().isBlank()) {
            throw new IllegalArgumentException("the API key is empty");
        }
        corsOrigins = List.copyOf(corsOrigins);
        corsOrigins.forEach(ServerConfig::checkOrigin);
    }

    /** Checks that {@code origin} is {@code *} or {@code scheme://host[:port]}, as a browser sends it. */
    public static void checkOrigin(String origin) {
        if (!origin.equals("*") && !ORIGIN.matcher(origin).matches()) {
            throw new IllegalArgumentException("'" + origin + "' is not an origin: write scheme://host[:port] with no "
                    + "path and no trailing slash, as a browser sends it (e.g. http://localhost:3000), or * for any");
        }
    }

    /**
     * Loopback, port 8080, 4 sequences, 64 waiting, 1 MiB bodies, 10 minutes a request, 30 s to send one, 30 s to
     * drain.
     */
    public static ServerConfig defaults(String modelId) {
        return new ServerConfig("127.0.0.1", 8080, modelId, Optional.empty(), 4, 64, 1 << 20, Duration.ofMinutes(10),
                Duration.ofSeconds(30), Duration.ofSeconds(30), SamplerParams.defaults(), Integer.MAX_VALUE, List.of());
    }

    public ServerConfig withPort(int p) {
        return new ServerConfig(host, p, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withHost(String h) {
        return new ServerConfig(h, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withMaxBodyBytes(long n) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, n, requestTimeout, readTimeout,
                shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withReadTimeout(Duration d) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout, d,
                shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withApiKey(String key) {
        return new ServerConfig(host, port, modelId, Optional.of(key), parallel, queueLimit, maxBodyBytes,
                requestTimeout, readTimeout, shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withParallel(int n) {
        return new ServerConfig(host, port, modelId, apiKey, n, queueLimit, maxBodyBytes, requestTimeout, readTimeout,
                shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withQueueLimit(int n) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, n, maxBodyBytes, requestTimeout, readTimeout,
                shutdownGrace, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withShutdownGrace(Duration d) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, d, sampling, maxTokens, corsOrigins);
    }

    public ServerConfig withSampling(SamplerParams s) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, shutdownGrace, s, maxTokens, corsOrigins);
    }

    public ServerConfig withMaxTokens(int n) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, shutdownGrace, sampling, n, corsOrigins);
    }

    public ServerConfig withCorsOrigins(List<String> origins) {
        return new ServerConfig(host, port, modelId, apiKey, parallel, queueLimit, maxBodyBytes, requestTimeout,
                readTimeout, shutdownGrace, sampling, maxTokens, origins);
    }

    /** Whether {@link #host} is a loopback address (127.0.0.0/8, ::1, localhost). */
    public boolean loopback() {
        try {
            return java.net.InetAddress.getByName(host).isLoopbackAddress();
        } catch (java.net.UnknownHostException e) {
            return false;
        }
    }
}
