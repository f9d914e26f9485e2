package io.molora.cli;

import static io.molora.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.cli.CliTest.Run;
import io.molora.runtime.ModelParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code generate --lora ... --routes vocab.json --show-routes}: token-boost adapters ("code" makes "▁return" win,
 * "math" makes "7" win) routed by a vocabulary config, the trace in plain markers (the output is not a terminal).
 */
class ShowRoutesTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path code;
    static Path math;
    static Path routes;

    @BeforeAll
    static void files() throws IOException {
        TinyFamily f = TinyFamily.write(dir);
        model = f.model();
        code = f.code();
        math = f.math();
        routes = dir.resolve("vocab.json");
        Files.writeString(routes, """
                {"rules": [
                  {"adapter": "code", "span": {"open": "```"}},
                  {"adapter": "math", "piece": "^ ?[0-9]+$"}
                ]}
                """);
    }

    static Run generate(String prompt, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("generate", "-m", model.toString(), "-c", "128",
                "--lora", "code=" + code, "--lora", "math=" + math, "--temp", "0", "-n", "4", "-p", prompt));
        args.addAll(List.of(extra));
        return run(args.toArray(String[]::new));
    }

    @Test
    void showRoutesMarksEachRunOfTokensByAdapter() {
        Run r = generate("Sum 12 and 5, then:\n```\nx", "--routes", routes.toString(), "--show-routes");
        assertEquals(0, r.exit(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("routes: [code] [math] [base]; mixes as [a+b]; [?] route unknown", lines.get(0));
        String trace = r.out().substring(r.out().indexOf('\n') + 1);
        // SPM splits " 12" into "▁", "1", "2": the space is base, the digits math.
        assertEquals("Sum [math]12[base] and [math]5[base], then:\n[code]```\nx return return return return\n", trace);
        assertTrue(r.err().contains("molora: tokens per route: code 7, math 3, base 9"), r.err());
    }

    @Test
    void withoutRoutesEveryAdapterServesEveryToken() {
        Run r = generate("Hello", "--show-routes");
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.out().lines().toList().get(1).startsWith("[code+math]Hello"), r.out());
    }

    @Test
    void routesErrorsAreOneLineWithTheLocation() throws IOException {
        Path bad = dir.resolve("bad.json");
        Files.writeString(bad, "{\"rules\": [\n  {\"adapter\": \"cod\", \"ids\": [1]}\n]}");
        Run r = generate("Hello", "--routes", bad.toString());
        assertEquals(1, r.exit());
        assertTrue(r.err().contains("bad.json:2:15: no adapter named \"cod\" is loaded (loaded: code, math)"), r.err());

        Run noAdapters = run("generate", "-m", model.toString(), "-p", "x", "--routes", routes.toString());
        assertEquals(2, noAdapters.exit(), noAdapters.err());
        assertTrue(noAdapters.err().contains("--routes needs adapters"), noAdapters.err());
    }
}
