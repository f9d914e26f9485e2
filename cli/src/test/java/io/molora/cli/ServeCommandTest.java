package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * {@code molora serve} as a process: it says where it listens (the real port for --port 0), warns when it listens
 * beyond this machine without a key, serves, and on SIGTERM shuts down cleanly; bad command lines exit 2, a port in use
 * exits 1 with one line.
 */
class ServeCommandTest {
    static Path family() {
        return Path.of(System.getProperty("molora.repo.root", "..")).resolve("models/testbed").toAbsolutePath();
    }

    @Test
    void itListensServesAndStopsCleanlyOnSigterm() throws Exception {
        Path f = family();
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED", "-Dmolora.native.dir=" + NativeTestSupport.nativeDir(),
                "-cp", System.getProperty("java.class.path"), "io.molora.cli.Main",
                "serve", "-m", f.resolve("testbed-base.gguf").toString(),
                "--lora", "code=" + f.resolve("testbed-lora-code.gguf"), "--host", "0.0.0.0", "--port", "0",
                "-c", "512", "-np", "2", "--shutdown-timeout", "60"));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        // stderr read as it comes, to the end (the JDK closes the pipe when the process exits)
        List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
        java.util.concurrent.CompletableFuture<Integer> port = new java.util.concurrent.CompletableFuture<>();
        Thread reader = Thread.ofPlatform().start(() -> {
            try (BufferedReader err = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                Pattern listening = Pattern.compile("molora: listening on http://0\\.0\\.0\\.0:(\\d+)");
                String line;
                while ((line = err.readLine()) != null) {
                    lines.add(line);
                    Matcher m = listening.matcher(line);
                    if (m.matches()) {
                        port.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (java.io.IOException e) {
                lines.add("(stderr: " + e + ")");
            }
            port.complete(-1);
        });
        try {
            int at = port.get(300, TimeUnit.SECONDS);
            assertTrue(at > 0, "no listening line: " + lines);
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("molora: warning: listening on 0.0.0.0 without --api-key")),
                    lines.toString());
            HttpClient http = HttpClient.newHttpClient();
            HttpResponse<String> health = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at
                    + "/health")).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(200, health.statusCode());
            HttpResponse<String> done = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + at
                    + "/v1/completions")).POST(HttpRequest.BodyPublishers.ofString(
                    "{\"model\": \"code\", \"prompt\": \"def f(x):\", \"max_tokens\": 5, \"temperature\": 0}")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, done.statusCode(), done.body());
            assertTrue(done.body().contains("\"code\":5"), done.body());
            p.destroy();  // SIGTERM
            assertTrue(p.waitFor(120, TimeUnit.SECONDS), "stopped after SIGTERM");
            assertEquals(143, p.exitValue());  // the JVM's code for SIGTERM, after the shutdown hook ran
            reader.join();
            String all = String.join("\n", lines);
            assertFalse(all.contains("Exception") || all.contains("\tat "), all);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void badCommandLinesExit2AndABusyPortExits1() throws Exception {
        Path base = family().resolve("testbed-base.gguf");
        CliTest.Run noModel = CliTest.run("serve", "--port", "0");
        assertEquals(2, noModel.exit(), noModel.err());
        CliTest.Run badPort = CliTest.run("serve", "-m", base.toString(), "--port", "70000");
        assertEquals(2, badPort.exit(), badPort.err());
        assertTrue(badPort.err().contains("--port"), badPort.err());
        CliTest.Run emptyKey = CliTest.run("serve", "-m", base.toString(), "--api-key", " ");
        assertEquals(2, emptyKey.exit(), emptyKey.err());
        for (String origin : List.of("http://localhost:3000/", "localhost:3000", "http://a/b", "https://[::1")) {
            CliTest.Run badOrigin = CliTest.run("serve", "-m", base.toString(), "--cors-origin", origin);
            assertEquals(2, badOrigin.exit(), badOrigin.err());
            assertTrue(badOrigin.err().contains("--cors-origin: '" + origin + "' is not an origin"), badOrigin.err());
        }
        try (ServerSocket taken = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            CliTest.Run busy = CliTest.run("serve", "-m", base.toString(), "-c", "256", "--port",
                    Integer.toString(taken.getLocalPort()));
            assertEquals(1, busy.exit(), busy.err());
            assertTrue(busy.err().startsWith("molora: error: "), busy.err());
            assertFalse(busy.err().contains("\tat "), busy.err());
        }
        assertTrue(Files.isRegularFile(base));
    }
}
