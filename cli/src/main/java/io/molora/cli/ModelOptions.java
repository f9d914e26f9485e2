package io.molora.cli;

import io.molora.adapters.AdapterSpec;
import io.molora.engine.Engine;
import io.molora.engine.EngineSpec;
import io.molora.engine.RouterSpec;
import io.molora.runtime.Backend;
import io.molora.runtime.ContextParams;
import io.molora.runtime.FlashAttention;
import io.molora.runtime.KvCacheType;
import io.molora.runtime.ModelParams;
import io.molora.runtime.RoutingForm;
import java.nio.file.Path;
import java.util.List;
import java.util.logging.Level;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/** Model and context flags, named as llama.cpp names them. */
final class ModelOptions {
    @Option(names = {"-m", "--model"}, paramLabel = "FILE", description = "GGUF model file.")
    Path model;

    @Option(names = {"-ngl", "--gpu-layers", "--n-gpu-layers"}, paramLabel = "N",
            description = "Layers to offload to the GPU (-1 = all, the default: a GPU is used when there is one).",
            defaultValue = "-1", converter = OptionRanges.Layers.class)
    int gpuLayers;

    @Option(names = {"-c", "--ctx-size"}, paramLabel = "N",
            description = "Context size in tokens (0 = from the model; default: ${DEFAULT-VALUE}).", defaultValue = "4096",
            converter = OptionRanges.ContextSize.class)
    int contextSize;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N", description = "Logical batch size (default: ${DEFAULT-VALUE}).",
            defaultValue = "2048", converter = OptionRanges.BatchSize.class)
    int batchSize;

    @Option(names = {"-ub", "--ubatch-size"}, paramLabel = "N", description = "Physical batch size (default: ${DEFAULT-VALUE}).",
            defaultValue = "512", converter = OptionRanges.BatchSize.class)
    int ubatchSize;

    @Option(names = {"-t", "--threads"}, paramLabel = "N", description = "Threads (0 = all cores; default: ${DEFAULT-VALUE}).",
            defaultValue = "0", converter = OptionRanges.Threads.class)
    int threads;

    @Option(names = {"-fa", "--flash-attn"}, paramLabel = "on|off|auto",
            description = "Flash attention (default: ${DEFAULT-VALUE}: llama.cpp decides per device).", defaultValue = "auto")
    FlashAttention flashAttention;

    @Option(names = {"-ctk", "--cache-type-k"}, paramLabel = "TYPE",
            description = "KV cache type for K: f32, f16, bf16, q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1 (default: ${DEFAULT-VALUE}).",
            defaultValue = "f16")
    KvCacheType cacheTypeK;

    @Option(names = {"-ctv", "--cache-type-v"}, paramLabel = "TYPE",
            description = "KV cache type for V, as for -ctk; a quantized V needs flash attention (default: ${DEFAULT-VALUE}).",
            defaultValue = "f16")
    KvCacheType cacheTypeV;

    @Option(names = "--lora-routing-form", paramLabel = "auto|concat|gather",
            description = "How llama.cpp applies routed adapters: concat (all of them, masked per token), gather (each "
                    + "token's own, ggml_mul_mat_id) or auto: concat up to a total width K*r_max of 1024, gather past "
                    + "it (default: ${DEFAULT-VALUE}).", defaultValue = "auto")
    RoutingForm routingForm;

    @Option(names = "--verbose", description = "Show llama.cpp's log and stack traces.")
    boolean verbose;

    /** -m is required by every command that loads a model (the demo has a built-in one). */
    void require(CommandLine cmd) {
        if (model == null) {
            throw new ParameterException(cmd, "Missing required option: '--model=FILE'");
        }
    }

    /** Opens the model with these adapters and router through the engine (with --verbose, llama.cpp's log shows). */
    Engine open(List<AdapterSpec> adapters, RouterSpec router) {
        if (verbose) {
            Backend.setLogLevel(Level.INFO);
        }
        return Engine.open(new EngineSpec(model, modelParams(), contextParams(), adapters, router, routingForm));
    }

    ModelParams modelParams() {
        return ModelParams.defaults().withGpuLayers(gpuLayers);
    }

    ContextParams contextParams() {
        return ContextParams.defaults().withContextSize(contextSize).withBatch(batchSize, Math.min(ubatchSize, batchSize))
                .withThreads(threads, threads).withFlashAttention(flashAttention).withKvCacheTypes(cacheTypeK, cacheTypeV);
    }
}
