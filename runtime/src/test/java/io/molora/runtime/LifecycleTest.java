package io.molora.runtime;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.gguf.synth.LoraSpec;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One owner per native handle: close frees once, use after close throws, a model outlives what points into it. */
class LifecycleTest {
    @TempDir
    Path dir;

    @Test
    void modelRefusesToCloseWhileAContextOrAdapterIsOpen() throws IOException {
        Path modelPath = NativeTestSupport.writeTinyModel(dir, 3);
        Path loraPath = NativeTestSupport.writeLora(dir, LoraSpec.attention("a", 4, 1));
        Model model = Model.load(modelPath, NativeTestSupport.modelParams());
        Context ctx = Context.create(model, ContextParams.defaults().withContextSize(64));
        LoraAdapter lora = LoraAdapter.load(model, "a", loraPath);

        var e = assertThrows(IllegalStateException.class, model::close);
        assertTrue(e.getMessage().contains("2 open"), e.getMessage());
        ctx.close();
        ctx.close();  // idempotent: must not count the context twice
        assertThrows(IllegalStateException.class, model::close, "the adapter is still open");
        lora.close();
        assertDoesNotThrow(model::close);
        assertFalse(model.isOpen());
        assertDoesNotThrow(model::close);

        assertThrows(IllegalStateException.class, () -> ctx.logits(-1));
        assertThrows(IllegalStateException.class, model::embeddingSize);
        assertThrows(IllegalStateException.class, () -> model.tokenizer().tokenize("x", false, false));
    }

    @Test
    void batchAndRouteTableCheckTheirBounds() {
        Batch b = new Batch(2);
        try (RouteTable r = new RouteTable(2, 1)) {
            b.add(1, 0, 0, true);
            b.add(2, 1, 0, true);
            assertThrows(IllegalStateException.class, () -> b.add(3, 2, 0, true));
            assertThrows(IllegalArgumentException.class, () -> r.set(0, -2, 1f));
            assertThrows(IndexOutOfBoundsException.class, () -> r.set(2, 0, 1f));
            assertThrows(IllegalArgumentException.class, () -> r.set(0, 0, Float.NaN));
        } finally {
            b.close();
        }
        assertThrows(IllegalStateException.class, () -> b.token(0));
        assertDoesNotThrow(b::close);
    }
}
