package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.AdapterMix;
import io.molora.engine.RouterSpec;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import picocli.CommandLine;
import picocli.CommandLine.Option;

/** Adapter and routing flags: llama.cpp's {@code --lora}/{@code --lora-scaled}, plus molora's router files. */
final class AdapterOptions {
    @Option(names = "--lora", paramLabel = "NAME=PATH",
            description = "Load a LoRA adapter under a name (repeatable): a GGUF file or a PEFT adapter directory.")
    List<String> lora = new ArrayList<>();

    @Option(names = "--lora-scaled", paramLabel = "NAME=PATH:S",
            description = "Load a LoRA adapter (GGUF file or PEFT directory) with a user scale (repeatable).")
    List<String> loraScaled = new ArrayList<>();

    @Option(names = "--samora-task", paramLabel = "TASK",
            description = "The task whose scale SAMoRA adapters apply, one of the names in their adapter.samora.tasks "
                    + "(default: the rule for a task they were not trained on).")
    String samoraTask;

    @Option(names = "--router", paramLabel = "FILE", description = "A trained router (learned gate) file.")
    Path router;

    @Option(names = "--router-switch-bonus", paramLabel = "B", converter = OptionRanges.SwitchBonus.class,
            description = "With --router: how much the gate must prefer another adapter to switch from the previous "
                    + "token's (0 = every token alone; default: the router file's).")
    Double switchBonus;

    @Option(names = "--routes", paramLabel = "FILE", description = "A vocabulary router (vocab.json).")
    Path routes;

    @Option(names = "--show-routes", description = "Report the adapter(s) that produced each generated token.")
    boolean showRoutes;

    /** The adapters in command-line order (--lora first, then --lora-scaled). */
    List<AdapterSpec> specs(CommandLine cmd) {
        try {
            List<AdapterSpec> specs = parse(lora, loraScaled);
            return samoraTask == null ? specs : specs.stream().map(s -> s.withTask(samoraTask)).toList();
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

    /**
     * The token router of --router (a learned gate, top-1) or --routes (vocabulary rules), if either is given. Both
     * at once, or either without --lora, is a command-line error.
     */
    Optional<RouterSpec> tokenRouter(CommandLine cmd) {
        if (router != null && routes != null) {
            throw new CommandLine.ParameterException(cmd, "give --routes (vocabulary) or --router (learned), not both");
        }
        if (router != null && specs(cmd).isEmpty()) {
            throw new CommandLine.ParameterException(cmd, "--router needs the adapters it was trained for (--lora)");
        }
        if (routes != null && specs(cmd).isEmpty()) {
            throw new CommandLine.ParameterException(cmd, "--routes needs adapters to route to (--lora NAME=PATH)");
        }
        if (switchBonus != null && router == null) {
            throw new CommandLine.ParameterException(cmd, "--router-switch-bonus is for a learned --router");
        }
        return router != null ? Optional.of(new RouterSpec.Learned(router, RouterSpec.SoftTopK.TOP_1,
                switchBonus == null ? java.util.OptionalDouble.empty() : java.util.OptionalDouble.of(switchBonus)))
                : routes != null ? Optional.of(new RouterSpec.Vocabulary(routes)) : Optional.empty();
    }

    /** {@code NAME[,NAME...]|none} of a --adapter flag over the loaded adapters; an unknown name is a command-line error. */
    static AdapterMix mix(String spec, List<String> loaded, CommandLine cmd) {
        try {
            return AdapterMix.parse(spec, loaded);
        } catch (IllegalArgumentException e) {
            throw new CommandLine.ParameterException(cmd, "--adapter " + spec + ": " + e.getMessage());
        }
    }
}
