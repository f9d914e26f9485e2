package io.molora.cli;

import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.ModelInfo;
import io.molora.runtime.LlamaException;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import java.io.IOException;
import java.nio.file.Path;

/** Loads models only after the pure-Java GGUF reader has validated the file, so broken input never reaches native code. */
final class ModelFiles {
    private ModelFiles() {}

    static Model load(Path path, ModelParams params) {
        validate(path, "model");
        return Model.load(path, params);
    }

    /** Parses the whole file (header, metadata, tensor table, data bounds); throws a one-line error if anything is off. */
    static ModelInfo validate(Path path, String role) {
        Model.checkGgufFile(path, role);
        try (GgufFile file = GgufFile.open(path)) {
            return ModelInfo.of(file);
        } catch (GgufFormatException e) {
            throw new LlamaException(role + " file " + path + " is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read " + role + " file " + path + ": " + e.getMessage(), e);
        }
    }
}
