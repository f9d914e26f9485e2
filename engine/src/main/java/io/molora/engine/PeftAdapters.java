package io.molora.engine;

import io.molora.adapters.AdapterSpec;
import io.molora.adapters.peft.PeftAdapter;
import io.molora.adapters.peft.PeftException;
import io.molora.gguf.GgufFile;
import io.molora.runtime.LlamaException;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * {@code --lora NAME=DIR}: an adapter given as a Hugging Face PEFT directory is converted in Java
 * ({@link PeftAdapter}, as llama.cpp's convert_lora_to_gguf.py converts it) into molora's cache, then loaded as any
 * GGUF adapter. The entry is {@code <peftCache>/<key>.gguf}, the key a sha256 of the two files' contents and the base's
 * architecture; an entry is reused only when {@link PeftAdapter#verify} trusts it (its key inside, its tensor data
 * matching their hash), and otherwise written again, by {@link OutputFile}'s rule (a temporary file beside it, checked
 * against the base model in Java, then moved into place). All of it happens before llama.cpp sees anything.
 */
final class PeftAdapters {
    private PeftAdapters() {}

    /** {@code spec} with every PEFT directory among its adapters replaced by its converted GGUF file. */
    static EngineSpec resolve(EngineSpec spec) {
        if (spec.adapters().stream().noneMatch(a -> PeftAdapter.isDirectory(a.path()))) {
            return spec;
        }
        ModelFiles.validate(spec.model(), "model");
        List<AdapterSpec> resolved = new ArrayList<>();
        try (GgufFile base = GgufFile.open(spec.model())) {
            for (AdapterSpec a : spec.adapters()) {
                resolved.add(PeftAdapter.isDirectory(a.path())
                        ? a.withPath(convert(a, base, spec.model(), spec.peftCache())) : a);
            }
        } catch (IOException e) {
            throw new LlamaException("cannot read model file " + spec.model() + ": " + OutputFile.reason(e), e);
        }
        return spec.withAdapters(resolved, spec.router());
    }

    /** The cache entry for adapter {@code a}'s directory on {@code base}: reused when trusted, else (re)written. */
    static Path convert(AdapterSpec a, GgufFile base, Path model, Path cache) {
        try {
            PeftAdapter peft = PeftAdapter.read(a.path(), base);
            Path entry = cache.resolve(peft.key() + ".gguf");
            Optional<String> distrust = PeftAdapter.verify(entry, peft.key());
            if (distrust.isEmpty()) {
                return entry;
            }
            OutputFile.check(entry, OutputFile.CACHE, List.of(a.path(), model), true).write(tmp -> {
                peft.write(tmp);
                peft.checkFits(base, tmp);
            });
            return entry;
        } catch (PeftException e) {
            throw new PeftException("adapter '" + a.name() + "': " + e.getMessage(), e);
        } catch (OutputFile.Refused | OutputFile.WriteFailed e) {
            throw new LlamaException("adapter '" + a.name() + "' (" + a.path() + "): cannot convert it into molora's "
                    + "cache: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("adapter '" + a.name() + "': cannot read PEFT directory " + a.path() + ": "
                    + OutputFile.reason(e), e);
        }
    }
}
