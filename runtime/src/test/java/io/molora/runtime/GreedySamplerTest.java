package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.llama_sampler_free;
import static io.molora.bindings.llama.llama_h.llama_sampler_init_greedy;
import static io.molora.bindings.llama.llama_h.llama_sampler_sample;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link Sampler} reads the greedy argmax in place instead of calling {@code llama_sampler_sample}: it must pick what
 * llama.cpp's own greedy sampler picks, for every output of real decodes.
 */
class GreedySamplerTest {
    @TempDir
    Path dir;

    @Test
    void inPlaceArgmaxEqualsLlamaCppGreedySampler() throws IOException {
        Path modelPath = NativeTestSupport.writeTinyModel(dir, 5);
        Random rnd = new Random(5);
        Backend.init();
        MemorySegment stock = llama_sampler_init_greedy();
        try (Model model = Model.load(modelPath, NativeTestSupport.modelParams());
             Context ctx = Context.create(model, ContextParams.defaults().withContextSize(256));
             Sampler ours = new Sampler(SamplerParams.greedy());
             Batch batch = new Batch(32)) {
            int checked = 0;
            for (int round = 0; round < 4; round++) {
                batch.clear();
                for (int i = 0; i < 32; i++) {
                    batch.add(3 + rnd.nextInt(ctx.vocabSize() - 3), round * 32 + i, 0, true);
                }
                ctx.decode(batch);
                for (int i = 0; i < 32; i++) {
                    assertEquals(llama_sampler_sample(stock, ctx.pointer(), i), ours.sample(ctx, i), "output " + i);
                    checked++;
                }
            }
            assertEquals(128, checked);
        } finally {
            llama_sampler_free(stock);
        }
    }
}
