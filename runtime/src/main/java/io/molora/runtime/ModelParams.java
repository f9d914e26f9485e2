package io.molora.runtime;

/**
 * How to load a model.
 *
 * @param gpuLayers layers to offload to the GPU; -1 = all (llama.cpp's {@code -ngl})
 * @param useMmap   map the file instead of reading it
 * @param vocabOnly load only the vocabulary (tokenizer tests, inspection)
 * @param noAlloc   load the metadata and place the tensors without allocating or reading them (llama.cpp's
 *                  {@code no_alloc}): for memory probes such as {@link LoraAdapter#routedCopyBytes}, not for decoding
 */
public record ModelParams(int gpuLayers, boolean useMmap, boolean vocabOnly, boolean noAlloc) {
    public ModelParams {
        if (gpuLayers < -1) {
            throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, got " + gpuLayers);
        }
    }

    /** CPU only, mmap on. */
    public static ModelParams defaults() {
        return new ModelParams(0, true, false, false);
    }

    public ModelParams withGpuLayers(int layers) {
        return new ModelParams(layers, useMmap, vocabOnly, noAlloc);
    }

    public ModelParams withVocabOnly(boolean only) {
        return new ModelParams(gpuLayers, useMmap, only, noAlloc);
    }

    public ModelParams withNoAlloc(boolean on) {
        return new ModelParams(gpuLayers, useMmap, vocabOnly, on);
    }
}
