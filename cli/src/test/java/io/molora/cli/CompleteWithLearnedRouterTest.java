package io.molora.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.molora.runtime.ModelParams;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code complete --router FILE}: a trained gate routes every token of requests that name no adapter. */
class CompleteWithLearnedRouterTest {
    @TempDir
    Path dir;

    @Test
    void learnedRouterRoutesBatchRequestsAndNamedAdaptersStayFixed() throws Exception {
        TinyFamily f = TinyFamily.write(dir);
        Path model = f.model();
        Path math = f.math();
        Path code = f.code();
        Files.writeString(dir.resolve("train.txt"), RouterCommandsTest.text(1, 400));
        Path router = dir.resolve("router.gguf");
        CliTest.Run train = CliTest.run("train-router", "-m", model.toString(), "--lora", "math=" + math, "--lora",
                "code=" + code, "--corpus", dir.resolve("train.txt").toString(), "-o", router.toString(), "--seq-len",
                "128", "--hidden", "16", "--epochs", "10", "--seed", "3");
        assertEquals(0, train.exit(), train.err());

        Path in = Files.write(dir.resolve("in.jsonl"), List.of(
                "{\"custom_id\":\"a\",\"prompt\":\"apple 17 house if\",\"max_tokens\":16}",
                "{\"custom_id\":\"b\",\"prompt\":\"for return blue 27\",\"max_tokens\":16}",
                "{\"custom_id\":\"fixed\",\"prompt\":\"apple 17 house if\",\"max_tokens\":16,\"adapter\":\"code\"}"));
        Path out = dir.resolve("out.jsonl");
        CliTest.Run r = CliTest.run("complete", "-m", model.toString(), "--lora", "math=" + math, "--lora",
                "code=" + code, "--router", router.toString(), "--show-routes", "--parallel", "3", "--temp", "0", "-o",
                out.toString(), in.toString());
        assertEquals(0, r.exit(), r.err());
        Map<String, JsonNode> res = CompleteCommandTest.byId(CompleteCommandTest.records(out));
        Set<String> used = new HashSet<>();
        for (String id : List.of("a", "b")) {
            for (JsonNode t : res.get(id).get("routes")) {
                assertTrue(t.get("adapters").size() <= 1, "top-1 gate: " + t);
                t.get("adapters").forEach(a -> used.add(a.asText()));
            }
        }
        assertTrue(!used.isEmpty() && Set.of("math", "code").containsAll(used), used.toString());
        JsonNode fixed = res.get("fixed");
        assertEquals(fixed.get("usage").get("completion_tokens").asInt(), fixed.get("adapter_tokens").get("code").asInt(),
                fixed.toString());
    }
}
