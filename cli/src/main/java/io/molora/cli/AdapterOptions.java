package io.molora.cli;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.runtime.LlamaException;
import io.molora.adapters.routers.SoftTopK;
import io.molora.adapters.vocab.VocabRouter;
import io.molora.runtime.Model;
import io.molora.runtime.Router;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** Adapter and routing flags: llama.cpp's {@code --lora}/{@code --lora-scaled}, plus molora's router files. */
final class AdapterOptions {
    @Option(names = "--lora", paramLabel = "NAME=PATH", description = "Load a LoRA adapter under a name (repeatable).")
    List<String> lora = new ArrayList<>();

    @Option(names = "--lora-scaled", paramLabel = "NAME=PATH:S",
            description = "Load a LoRA adapter with a user scale (repeatable).")
    List<String> loraScaled = new ArrayList<>();

    @Option(names = "--router", paramLabel = "FILE", description = "A trained router (learned gate) file.")
    Path router;

    @Option(names = "--routes", paramLabel = "FILE", description = "A vocabulary router (vocab.json).")
    Path routes;

    @Option(names = "--show-routes", description = "Report the adapter(s) that produced each generated token.")
    boolean showRoutes;

    /** The adapters in command-line order (--lora first, then --lora-scaled). */
    List<AdapterSpec> specs(CommandLine cmd) {
        try {
            return parse(lora, loraScaled);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
    }

    /**
     * NAME=PATH arguments, then NAME=PATH:S ones, as adapter specs; IllegalArgumentException naming the option for a
     * malformed one or a scale that is not finite or beyond +-1e4.
     */
    static List<AdapterSpec> parse(List<String> lora, List<String> loraScaled) {
        List<AdapterSpec> specs = new ArrayList<>();
        for (String s : lora) {
            try {
                specs.add(AdapterSpec.parse(s));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("Invalid value for option '--lora': " + e.getMessage(), e);
            }
        }
        for (String s : loraScaled) {
            try {
                specs.add(AdapterSpec.parseScaled(s));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("Invalid value for option '--lora-scaled': " + e.getMessage(), e);
            }
        }
        return specs;
    }

    /** --router and --routes exclude each other. */
    void checkRouters() {
        if (router != null && routes != null) {
            throw new LlamaException("--router and --routes both given; pick one router");
        }
    }

    /**
     * The token router of --router (learned gate, top-1) or --routes (vocabulary rules) over the loaded adapters, or
     * null when neither is given. What must be closed after use is added to {@code resources}.
     */
    Router tokenRouter(Model model, AdapterSet set, List<AutoCloseable> resources) {
        if (router == null && routes == null) {
            return null;
        }
        if (set == null) {
            throw new LlamaException((router != null ? "--router" : "--routes")
                    + " needs the adapters it routes to (--lora NAME=PATH)");
        }
        try {
            if (router != null) {
                RouterCorpus.Learned learned = RouterCorpus.load(router, model, set.specs(), new SoftTopK(1, 1f, 0f));
                resources.add(learned);
                return learned.router();
            }
            return VocabRouter.load(routes, model.tokenizer(), set.names());
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read " + (router != null ? router : routes) + ": "
                    + e.getMessage(), e);
        }
    }

    /** Validates and loads the adapters, or returns null when none were given. */
    AdapterSet load(Model model, CommandLine cmd) {
        List<AdapterSpec> specs = specs(cmd);
        return specs.isEmpty() ? null : AdapterSet.load(model, specs);
    }
}
