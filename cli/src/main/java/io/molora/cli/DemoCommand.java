package io.molora.cli;

import io.molora.engine.OutputFile;
import io.molora.engine.RouterSpec;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The main job for a first run. With the project's trained testbed family in {@code models/testbed/} (base + code,
 * prose and math adapters + learned routers, see docs/TESTBED.md): a prompt that mixes domains, every token routed by
 * the learned router, the text coloured by adapter (markers when stdout is not a terminal) and the tokens each adapter
 * served; {@code --no-routing} runs the same prompt on the base alone. Without the family (or with {@code --random}),
 * the built-in small RANDOM-WEIGHT model proves the chain (GGUF writer → llama.cpp → Java decode loop); its text is
 * noise. {@code -m} uses any GGUF model.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate with the testbed family, routed per token by its learned router (coloured by",
                "adapter), or with -m FILE, or the built-in random-weight model (--random; its text is noise)."})
final class DemoCommand implements Callable<Integer> {
    /** A request that mixes prose, code and arithmetic. */
    static final String MIXED_PROMPT = "Write a Python function that returns the number of seats in a train with 12 "
            + "cars of 48 seats each.\n";

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT",
            description = "The prompt (default: a mixed code/prose/math request; \"Once upon a time\" otherwise).")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "64", converter = OptionRanges.TokenLimit.class,
            description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int nPredict;

    @Option(names = "--no-routing", description = "The testbed base alone: no adapters, no router.")
    boolean noRouting;

    @Option(names = "--random", description = "The built-in random-weight model instead of the testbed family.")
    boolean random;

    @Override
    public Integer call() throws IOException {
        var out = spec.commandLine().getOut();
        var err = spec.commandLine().getErr();
        Path family = random || model.model != null ? null : TestbedFamily.find();
        if (family == null) {
            if (model.model == null) {
                model.model = builtInModel();
                err.println("molora: built-in model " + model.model.getFileName()
                        + " has RANDOM weights: expect noise, not language (use -m FILE for a real model)");
                err.flush();
            }
            return GenerateCommand.Generation.run(out, err, model, sampling, prompt == null ? "Once upon a time" : prompt,
                    nPredict, List.of(), new RouterSpec.Base(), false);
        }
        model.model = family.resolve(TestbedFamily.BASE);
        String text = prompt == null ? MIXED_PROMPT : prompt;
        if (noRouting) {
            err.println("molora: the testbed base alone, no adapters (" + family + ")");
            err.flush();
            return GenerateCommand.Generation.run(out, err, model, sampling, text, nPredict, List.of(),
                    new RouterSpec.Base(), false);
        }
        Path router = TestbedFamily.router(family);
        err.println("molora: the testbed family (" + family + "): base + " + String.join(", ", TestbedFamily.DOMAINS)
                + " adapters, every token routed by " + router.getFileName());
        err.flush();
        return GenerateCommand.Generation.run(out, err, model, sampling, text, nPredict, TestbedFamily.adapters(family),
                new RouterSpec.Learned(router), true);
    }

    /** Writes the built-in model once into the cache (seeded, so every machine gets the same bytes). */
    static Path builtInModel() throws IOException {
        String src = System.getProperty("molora.llama.src");
        if (src == null || src.isBlank()) {
            throw new LlamaException("the built-in model needs llama.cpp's source tree for its tokenizer: run through "
                    + "./molora, or pass -Dmolora.llama.src=DIR");
        }
        Path vocab = TokenizerMetadata.llamaSpmVocab(Path.of(src));
        Path dir = CacheDir.resolve("models");
        Path target = dir.resolve("builtin-random-tiny-v1.gguf");
        if (!Files.isRegularFile(target)) {
            TokenizerMetadata tokenizer = TokenizerMetadata.load(vocab);
            // a cache file under OutputFile's rule: its folder made, written through a temporary file moved over it
            OutputFile.check(target, OutputFile.CACHE, List.of(), false)
                    .write(p -> SyntheticModel.of(LlamaConfig.tiny(tokenizer.vocabSize()), tokenizer, 1234).write(p));
        }
        return target;
    }
}
