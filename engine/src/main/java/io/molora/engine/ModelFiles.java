package io.molora.engine;

import io.molora.adapters.AdapterMemory;
import io.molora.gguf.GgufFile;
import io.molora.gguf.GgufFormatException;
import io.molora.gguf.ModelInfo;
import io.molora.gguf.GgufTensorInfo;
import io.molora.runtime.ContextParams;
import io.molora.runtime.Devices;
import io.molora.runtime.LlamaException;
import io.molora.runtime.MemoryFit;
import io.molora.runtime.Model;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutingParams;
import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongSupplier;

/** Loads models only after the pure-Java GGUF reader has validated the file, so broken input never reaches native code. */
final class ModelFiles {
    private ModelFiles() {}

    /** Loads the model of {@code spec}, fit-checked for the adapters that will be loaded with it. */
    static Model load(EngineSpec spec) {
        // as loaded plus the copies packed for per-token routing, as llama.cpp computes them on a metadata-only load
        // with every layer offloaded (the fit check apportions them per layer): what a GPU must hold for them
        return load(spec.model(), spec.modelParams(), spec.contextParams(),
                () -> AdapterMemory.of(spec.model(), spec.modelParams().withGpuLayers(-1), spec.adapters(),
                        RoutingParams.defaults().withForm(spec.routingForm())).deviceBytes());
    }

    /**
     * Loads a model after checking, when a GPU is present and layers are to be offloaded, that weights, adapters, KV
     * cache and compute buffers fit its free memory; a clear error with a suggested -ngl / -c instead of an
     * out-of-memory failure mid-run.
     */
    static Model load(Path path, ModelParams params, ContextParams context, LongSupplier adapterBytes) {
        validate(path, "model");
        if (params.gpuLayers() != 0) {
            Devices.list().stream().filter(Devices.Device::isGpu).findFirst().ifPresent(gpu -> {
                MemoryFit.Footprint f = footprint(path, adapterBytes.getAsLong());
                int nCtx = context.contextSize() > 0 ? context.contextSize() : 4096;
                MemoryFit.Verdict v = MemoryFit.check(f, params.gpuLayers(), nCtx, context.ubatchSize(),
                        gpu.freeBytes(), gpu.name() + " (" + gpu.description() + ")");
                if (!v.fits()) {
                    throw new LlamaException(v.message());
                }
            });
        }
        return Model.load(path, params);
    }

    /** What the model needs per layer, from its GGUF tensor table and metadata. */
    static MemoryFit.Footprint footprint(Path path, long adapterBytes) {
        try (GgufFile file = GgufFile.open(path)) {
            ModelInfo info = ModelInfo.of(file);
            int layers = (int) Math.max(0, info.blockCount());
            long[] layerBytes = new long[layers];
            long output = 0;
            for (GgufTensorInfo t : file.tensors()) {
                java.util.regex.Matcher m = LAYER.matcher(t.name());
                if (m.lookingAt()) {
                    int i = Integer.parseInt(m.group(1));
                    if (i < layers) {
                        layerBytes[i] += t.byteSize();
                    }
                } else if (t.name().startsWith("output")) {
                    output += t.byteSize();
                }
            }
            String arch = info.architecture();
            long heads = file.integer(arch + ".attention.head_count").orElse(1L);
            long kvHeads = file.integer(arch + ".attention.head_count_kv").orElse(heads);
            long kvWidth = 2 * info.embeddingLength() / Math.max(1, heads) * kvHeads;
            return new MemoryFit.Footprint(layerBytes, output, layers == 0 ? 0 : adapterBytes / layers, kvWidth,
                    info.vocabSize(), info.embeddingLength(), heads);
        } catch (IOException e) {
            throw new LlamaException("cannot read model " + path + ": " + e.getMessage(), e);
        }
    }

    private static final java.util.regex.Pattern LAYER = java.util.regex.Pattern.compile("blk\\.(\\d+)\\.");

    /**
     * Parses the whole file (header, metadata, tensor table, data bounds) and checks what llama.cpp would assert on
     * ({@link Model#checkModelFile}); throws a one-line error if anything is off.
     */
    static ModelInfo validate(Path path, String role) {
        Model.checkModelFile(path);
        try (GgufFile file = GgufFile.open(path)) {
            return ModelInfo.of(file);
        } catch (GgufFormatException e) {
            throw new LlamaException(role + " file " + path + " is not valid GGUF: " + e.getMessage(), e);
        } catch (IOException e) {
            throw new LlamaException("cannot read " + role + " file " + path + ": " + e.getMessage(), e);
        }
    }
}
