package io.molora.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.molora.adapters.AdapterSpec;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The project's trained testbed family ({@code models/testbed/} in the checkout: base, code/prose/math adapters,
 * learned routers; docs/TESTBED.md), found through {@code -Dmolora.home} (the launcher sets it to the checkout).
 */
final class TestbedFamily {
    static final String BASE = "testbed-base.gguf";
    static final List<String> DOMAINS = List.of("code", "prose", "math");

    private TestbedFamily() {}

    /** The family's directory, or null when this installation has none. */
    static Path find() {
        String home = System.getProperty("molora.home");
        if (home == null || home.isBlank()) {
            return null;
        }
        Path dir = Path.of(home, "models", "testbed");
        boolean complete = Files.isRegularFile(dir.resolve(BASE)) && Files.isRegularFile(dir.resolve("routers.json"))
                && DOMAINS.stream().allMatch(d -> Files.isRegularFile(adapter(dir, d)));
        return complete ? dir : null;
    }

    static Path adapter(Path family, String domain) {
        return family.resolve("testbed-lora-" + domain + ".gguf");
    }

    /** The three adapters, named by their domains, at scale 1. */
    static List<AdapterSpec> adapters(Path family) {
        return DOMAINS.stream().map(d -> new AdapterSpec(d, adapter(family, d), 1f)).toList();
    }

    /**
     * The family's learned router: of the two testbed/routers.py trained (unlabelled, labelled), the one whose NLL
     * on mixed lines of the valid split was lower (the held-out eval set played no part in the choice).
     */
    static Path router(Path family) throws IOException {
        JsonNode r = new ObjectMapper().readTree(Files.readString(family.resolve("routers.json")));
        String best = null;
        double bestNll = Double.POSITIVE_INFINITY;
        for (JsonNode chosen : r.path("chosen")) {
            JsonNode tried = r.path("tried").path(chosen.asText());
            // the score routers.py selected by (the valid splits only), or the template lines' alone in older records
            double nll = tried.path("selection_nll_per_token").asDouble(
                    tried.path("valid_mixed_nll_per_token").asDouble(Double.NaN));
            if (nll < bestNll) {
                bestNll = nll;
                best = tried.path("kind").asText();
            }
        }
        if (best == null) {
            throw new IOException(family.resolve("routers.json") + " names no router");
        }
        return family.resolve("router-" + best + ".gguf");
    }
}
