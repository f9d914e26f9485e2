package io.molora.cli;

import static io.molora.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.cli.CliTest.Run;
import io.molora.runtime.ModelParams;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * train-router without labels, eval-router, and generate --router: token-boost adapters "math" (makes "7" next) and
 * "code" (makes "▁return" next) over text where 1/2/3 are followed by 7 and "if"/"for" by "return".
 */
class RouterCommandsTest {
    @TempDir
    static Path dir;
    static Path model;
    static Path math;
    static Path code;

    @BeforeAll
    static void files() throws IOException {
        TinyFamily f = TinyFamily.write(dir);
        model = f.model();
        math = f.math();
        code = f.code();
        Files.writeString(dir.resolve("train.txt"), text(1, 600));
        Files.writeString(dir.resolve("test.txt"), text(2, 200));
    }

    static String text(long seed, int words) {
        String[] filler = {"apple", "house", "blue", "river", "green", "table", "music", "paper", "stone", "light"};
        String[] rules = {"17", "27", "37", "if return", "for return"};
        Random r = new Random(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < words; i++) {
            b.append(r.nextInt(3) == 0 ? rules[r.nextInt(rules.length)] : filler[r.nextInt(filler.length)]).append(' ');
        }
        return b.toString().trim();
    }

    @Test
    void trainEvaluateAndGenerateWithALearnedRouter() throws IOException {
        Path router = dir.resolve("router.gguf");
        Run train = run("train-router", "-m", model.toString(), "--lora", "math=" + math, "--lora", "code=" + code,
                "--corpus", dir.resolve("train.txt").toString(), "-o", router.toString(), "--seq-len", "128",
                "--hidden", "16", "--epochs", "30", "--seed", "3");
        assertEquals(0, train.exit(), train.err());
        assertTrue(train.out().startsWith("wrote "), train.out());
        assertTrue(train.err().contains("epoch 30/30"), train.err());

        Run eval = run("eval-router", "-m", model.toString(), "--lora", "math=" + math, "--lora", "code=" + code,
                "--router", router.toString(), "--corpus", dir.resolve("test.txt").toString(), "--seq-len", "128",
                "--json");
        assertEquals(0, eval.exit(), eval.err());
        JsonNode j = new ObjectMapper().readTree(eval.out());
        JsonNode ppl = j.get("perplexity");
        double learned = ppl.get("learned-per-token").asDouble();
        assertTrue(learned < 1.1 * ppl.get("oracle-per-token").asDouble(), eval.out());
        assertTrue(learned < 0.5 * ppl.get("base").asDouble(), eval.out());
        assertTrue(j.get("routing_accuracy_vs_oracle").asDouble() > 0.95, eval.out());

        Run table = run("eval-router", "-m", model.toString(), "--lora", "math=" + math, "--lora", "code=" + code,
                "--router", router.toString(), "--corpus", dir.resolve("test.txt").toString(), "--seq-len", "128");
        assertEquals(0, table.exit(), table.err());
        assertTrue(table.out().contains("oracle-per-token"), table.out());

        Run gen = run("generate", "-m", model.toString(), "-c", "128", "--lora", "math=" + math, "--lora",
                "code=" + code, "--router", router.toString(), "--show-routes", "--temp", "0", "-n", "2",
                "-p", "apple 2");
        assertEquals(0, gen.exit(), gen.err());
        String trace = gen.out().lines().toList().get(1);
        assertTrue(trace.startsWith("apple [math]2[base]7"), trace);

        Run swapped = run("eval-router", "-m", model.toString(), "--lora", "code=" + code, "--lora", "math=" + math,
                "--router", router.toString(), "--corpus", dir.resolve("test.txt").toString());
        assertEquals(1, swapped.exit());
        assertTrue(swapped.err().contains("was trained for adapters [math, code]"), swapped.err());
    }

    /** Context decides: "if then" is followed by 7, "for then" by return — only hidden-state features can tell. */
    static String contextText(long seed, int words) {
        String[] filler = {"apple", "house", "blue", "river", "green", "table", "music", "paper", "stone", "light"};
        Random r = new Random(seed);
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < words; i++) {
            int x = r.nextInt(6);
            b.append(x == 0 ? "if then7" : x == 1 ? "for then return" : filler[r.nextInt(filler.length)]).append(' ');
        }
        return b.toString().trim();
    }

    @Test
    void hiddenStateRouterFromTrainingToGeneration() throws IOException {
        Files.writeString(dir.resolve("ctx-train.txt"), contextText(1, 500));
        Files.writeString(dir.resolve("ctx-test.txt"), contextText(2, 150));
        Path router = dir.resolve("hidden-router.gguf");
        Run train = run("train-router", "-m", model.toString(), "--lora", "math=" + math, "--lora", "code=" + code,
                "--corpus", dir.resolve("ctx-train.txt").toString(), "-o", router.toString(), "--seq-len", "128",
                "--hidden", "32", "--epochs", "60", "--seed", "3", "--features", "token+hidden");
        assertEquals(0, train.exit(), train.err());
        Run eval = run("eval-router", "-m", model.toString(), "--lora", "math=" + math, "--lora", "code=" + code,
                "--router", router.toString(), "--corpus", dir.resolve("ctx-test.txt").toString(), "--seq-len", "128",
                "--json");
        assertEquals(0, eval.exit(), eval.err());
        System.out.println(eval.out());
        JsonNode j = new ObjectMapper().readTree(eval.out());
        assertEquals("token_embd+hidden", j.get("features").asText());
        JsonNode ppl = j.get("perplexity");
        assertTrue(ppl.has("learned-per-token (N: no base pass)"), eval.out());
        assertTrue(ppl.get("learned-per-token").asDouble() < 1.2 * ppl.get("oracle-per-token").asDouble(), eval.out());
        assertTrue(j.get("routing_accuracy_vs_oracle").asDouble() > 0.95, eval.out());

        for (String[] c : new String[][] {{"apple if then", "7"}, {"apple for then", " return"}}) {
            Run gen = run("generate", "-m", model.toString(), "-c", "128", "--lora", "math=" + math, "--lora",
                    "code=" + code, "--router", router.toString(), "--temp", "0", "-n", "1", "-p", c[0]);
            assertEquals(0, gen.exit(), gen.err());
            assertEquals(c[0] + c[1], gen.out().strip(), gen.out());
        }
    }
}
