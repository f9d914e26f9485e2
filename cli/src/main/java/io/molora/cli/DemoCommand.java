package io.molora.cli;

import io.molora.engine.RouterSpec;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The main job for a first run: generates text with a built-in model. Until the project's trained testbed model
 * exists, the built-in one is a small RANDOM-WEIGHT llama model with llama.cpp's real llama-spm tokenizer, so its text
 * is noise: it proves the whole chain (GGUF writer → llama.cpp → Java decode loop) works. {@code -m} uses a real model.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Generate text with the built-in model (a small random-weight model: its text is noise)",
                "or with -m FILE, a real GGUF model."})
final class DemoCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Mixin
    SamplingOptions sampling;

    @Option(names = {"-p", "--prompt"}, paramLabel = "TEXT", defaultValue = "Once upon a time",
            description = "The prompt (default: ${DEFAULT-VALUE}).")
    String prompt;

    @Option(names = {"-n", "--n-predict"}, paramLabel = "N", defaultValue = "48",
            description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int nPredict;

    @Override
    public Integer call() throws IOException {
        var err = spec.commandLine().getErr();
        if (model.model == null) {
            model.model = builtInModel();
            err.println("molora: built-in model " + model.model.getFileName()
                    + " has RANDOM weights: expect noise, not language (use -m FILE for a real model)");
            err.flush();
        }
        return GenerateCommand.Generation.run(spec.commandLine().getOut(), err, model, sampling, prompt, nPredict,
                List.of(), new RouterSpec.Base(), false);
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
            Files.createDirectories(dir);
            TokenizerMetadata tokenizer = TokenizerMetadata.load(vocab);
            Path tmp = Files.createTempFile(dir, "builtin", ".partial");
            SyntheticModel.of(LlamaConfig.tiny(tokenizer.vocabSize()), tokenizer, 1234).write(tmp);
            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
        }
        return target;
    }
}
