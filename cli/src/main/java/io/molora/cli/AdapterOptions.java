package io.molora.cli;

import io.molora.adapters.AdapterSet;
import io.molora.adapters.AdapterSpec;
import io.molora.runtime.LlamaException;
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
        List<AdapterSpec> specs = new ArrayList<>();
        try {
            for (String s : lora) {
                specs.add(AdapterSpec.parse(s));
            }
            for (String s : loraScaled) {
                specs.add(AdapterSpec.parseScaled(s));
            }
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, e.getMessage());
        }
        return specs;
    }

    /** Refuses what is not wired in yet: learned router files (--router). */
    void checkRouters() {
        if (router != null) {
            throw new LlamaException("--router (learned gate files) is not wired into chat/complete yet; "
                    + "use --routes vocab.json or per-request adapters");
        }
    }

    /** The token router of --routes over these adapters, or null without --routes. */
    Router tokenRouter(Model model, List<String> adapterNames) {
        if (routes == null) {
            return null;
        }
        if (adapterNames.isEmpty()) {
            throw new LlamaException("--routes needs the adapters it routes to (--lora NAME=PATH)");
        }
        try {
            return VocabRouter.load(routes, model.tokenizer(), adapterNames);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException("cannot read routes file " + routes + ": " + e.getMessage(), e);
        }
    }

    /** Validates and loads the adapters, or returns null when none were given. */
    AdapterSet load(Model model, CommandLine cmd) {
        List<AdapterSpec> specs = specs(cmd);
        return specs.isEmpty() ? null : AdapterSet.load(model, specs);
    }
}
