package io.molora.engine.bench;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.OutputFile;
import io.molora.gguf.synth.LlamaConfig;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.gguf.synth.SyntheticLora;
import io.molora.gguf.synth.SyntheticModel;
import io.molora.gguf.synth.TokenizerMetadata;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;

/**
 * The benchmark's files: a synthetic llama model (random weights, llama.cpp's SPM test vocabulary) and K random
 * adapters on every projection, written once under a cache folder and reused by later runs with the same settings.
 */
public record BenchFixture(LlamaConfig config, Path model, List<AdapterSpec> adapters) {
    /** The model sizes there are. */
    public static final List<String> SIZES = List.of("tiny", "small", "medium", "1.5b");

    public BenchFixture {
        adapters = List.copyOf(adapters);
    }

    /**
     * The files for {@code settings} under {@code cacheDir} (a folder per model), written there first when missing.
     * {@code llamaSrc} is llama.cpp's source tree, whose SPM test vocabulary the model gets.
     */
    public static BenchFixture ensure(BenchSettings settings, Path cacheDir, Path llamaSrc) throws IOException {
        TokenizerMetadata tokenizer = TokenizerMetadata.load(TokenizerMetadata.llamaSpmVocab(llamaSrc));
        LlamaConfig config = config(settings, tokenizer.vocabSize());
        Path dir = cacheDir.resolve(config.name() + "-" + settings.type());
        Files.createDirectories(dir);
        Path model = ensure(dir.resolve("model.gguf"), p -> SyntheticModel.of(config, tokenizer, 99).write(p));
        EnumSet<LoraTarget> targets = EnumSet.of(LoraTarget.Q, LoraTarget.K, LoraTarget.V, LoraTarget.O,
                LoraTarget.GATE, LoraTarget.UP, LoraTarget.DOWN);
        List<AdapterSpec> adapters = new ArrayList<>();
        for (int i = 0; i < settings.adapters(); i++) {
            LoraSpec spec = new LoraSpec("a" + i, settings.rank(), settings.rank(), targets, 100 + i, 1f,
                    settings.adapterType());
            Path path = ensure(dir.resolve("lora-r" + settings.rank() + "-" + settings.adapterType() + "-" + i + ".gguf"),
                    p -> SyntheticLora.random(config, spec).write(p));
            adapters.add(new AdapterSpec("a" + i, path, 1f));
        }
        return new BenchFixture(config, model, adapters);
    }

    private static LlamaConfig config(BenchSettings s, int vocab) {
        LlamaConfig c = switch (s.size()) {
            case "tiny" -> LlamaConfig.tiny(vocab);
            case "small" -> new LlamaConfig("molora-bench-small", vocab, 256, 4, 768, 4, 2, 4096, 10000f, 1e-5f, s.type());
            case "medium" -> new LlamaConfig("molora-bench-medium", vocab, 1024, 8, 3072, 8, 4, 4096, 10000f, 1e-5f,
                    s.type());
            case "1.5b" -> LlamaConfig.bench1_5b(vocab);
            default -> throw new IllegalArgumentException("the size must be one of " + SIZES + ", got '" + s.size() + "'");
        };
        return c.withWeightType(s.type());
    }

    /**
     * {@code target}, written when missing under {@link OutputFile}'s rule (a cache file: molora's own by where it is;
     * a directory or device there is refused), through a temporary file moved over it, so a killed run leaves no half
     * file.
     */
    private static Path ensure(Path target, OutputFile.Writer writer) throws IOException {
        if (!Files.isRegularFile(target)) {
            OutputFile.check(target, OutputFile.CACHE, List.of(), false).write(writer);
        }
        return target;
    }
}
