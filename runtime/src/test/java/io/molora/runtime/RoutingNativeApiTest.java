package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.llama_lora_routing_bytes;
import static io.molora.bindings.llama.llama_h.llama_set_lora_routes;
import static io.molora.bindings.llama.llama_h.llama_set_lora_routing;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.molora.bindings.llama.llama_lora_routing_params;
import io.molora.gguf.GgmlType;
import io.molora.gguf.synth.LoraSpec;
import io.molora.gguf.synth.LoraTarget;
import io.molora.runtime.testing.NativeTestSupport;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The routing patches' native API as the runtime uses it: params struct defaults, routes that apply to one decode
 * only, and bad input answered with an error code (a LlamaException here) instead of an abort that would end this JVM.
 */
class RoutingNativeApiTest {
    @TempDir
    static Path dir;
    private static Model model;
    private static LoraAdapter adapter;

    @BeforeAll
    static void load() throws IOException {
        Assumptions.assumeTrue(Context.routingSupported(), "llama.cpp without the routing patches");
        model = Model.load(NativeTestSupport.writeTinyModel(dir, 5), NativeTestSupport.modelParams());
        adapter = LoraAdapter.load(model, "a", NativeTestSupport.writeLora(dir, new LoraSpec("a", 4, 4f,
                EnumSet.of(LoraTarget.Q, LoraTarget.V, LoraTarget.DOWN, LoraTarget.OUTPUT), 3, 2f, GgmlType.F32)));
    }

    @AfterAll
    static void close() {
        if (adapter != null) {
            adapter.close();
        }
        if (model != null) {
            model.close();
        }
    }

    private static Context context() {
        return Context.create(model, ContextParams.defaults().withContextSize(64).withBatch(16, 16));
    }

    /** Logits of every token of a fixed 8-token prompt, decoded from an empty cache. */
    private static float[][] decode(Context ctx, Batch batch) {
        ctx.clearMemory();
        ctx.decode(batch);
        float[][] out = new float[batch.size()][];
        for (int i = 0; i < out.length; i++) {
            out[i] = ctx.logits(i);
        }
        return out;
    }

    private static double maxDiff(float[][] a, float[][] b) {
        double d = 0;
        for (int i = 0; i < a.length; i++) {
            for (int j = 0; j < a[i].length; j++) {
                d = Math.max(d, Math.abs(a[i][j] - b[i][j]));
            }
        }
        return d;
    }

    @Test
    void theRecordsDefaultsAreLlamaCpps() {
        assertEquals(RoutingParams.nativeDefaults(), RoutingParams.defaults());
    }

    @Test
    void routesApplyToOneDecodeOnly() {
        try (Context base = context(); Context ctx = context(); Batch batch = new Batch(16);
             RouteTable routes = new RouteTable(16, 1)) {
            for (int i = 0; i < 8; i++) {
                batch.add(10 + 7 * i, i, 0, true);
            }
            float[][] plain = decode(base, batch);
            ctx.setRouting(List.of(adapter), new float[] {1f}, RoutingParams.defaults());
            routes.clear(8);
            for (int i = 0; i < 8; i++) {
                routes.set(i, 0, 1f);
            }
            ctx.setRoutes(routes, 8);
            float[][] routed = decode(ctx, batch);
            // no setRoutes before this decode: the base model's logits, not the previous batch's routes again
            float[][] after = decode(ctx, batch);
            assertTrue(maxDiff(routed, plain) > 1e-2, "the adapter changes the logits: " + maxDiff(routed, plain));
            assertTrue(maxDiff(after, plain) < 1e-5, "a decode with no routes set uses no adapter; differs from "
                    + "the base by " + maxDiff(after, plain) + " (from the routed decode by " + maxDiff(after, routed) + ")");
        }
    }

    @Test
    void badInputReachingTheNativeApiGetsAnErrorCodeNotAnAbort() {
        // what the Java API refuses before any native call, handed to llama.cpp directly: each a return code, and
        // this JVM still running to see it
        try (Context ctx = context(); Arena arena = Arena.ofConfined()) {
            MemorySegment ads = arena.allocate(ValueLayout.ADDRESS, 1);
            ads.setAtIndex(ValueLayout.ADDRESS, 0, adapter.pointer());
            MemorySegment scale = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
            MemorySegment p = RoutingParams.defaults().toNative(arena);
            llama_lora_routing_params.form(p, 7);
            assertEquals(-1, llama_set_lora_routing(ctx.pointer(), ads, scale, 1, p), "unknown form");
            p = RoutingParams.defaults().toNative(arena);
            llama_lora_routing_params.max_routes_per_token(p, 0);
            assertEquals(-1, llama_set_lora_routing(ctx.pointer(), ads, scale, 1, p), "k = 0");
            assertEquals(-1, llama_set_lora_routing(ctx.pointer(), MemorySegment.NULL, scale, 1,
                    RoutingParams.defaults().toNative(arena)), "NULL adapters");
            MemorySegment bytes = arena.allocate(ValueLayout.JAVA_LONG, 4);
            assertEquals(-1, llama_lora_routing_bytes(MemorySegment.NULL, ads, scale, 1,
                    RoutingParams.defaults().toNative(arena), bytes, 4), "NULL model");

            assertEquals(0, llama_set_lora_routing(ctx.pointer(), ads, scale, 1, RoutingParams.defaults().toNative(arena)));
            MemorySegment ids = arena.allocateFrom(ValueLayout.JAVA_INT, 99);
            MemorySegment w = arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
            assertTrue(llama_set_lora_routes(ctx.pointer(), ids, w, 1, 1) < 0, "route to adapter 99 of 1");
            assertTrue(llama_set_lora_routes(ctx.pointer(), ids, w, 1, 5) < 0, "k above max_routes_per_token");
        }
    }

    @Test
    void anAdapterOnMoeExpertsIsALlamaExceptionWithTheReason() throws Exception {
        // llama.cpp's own gguf-py writes the MoE model and its expert adapter (native-build/tests/lora-routing)
        Path repo = Path.of(System.getProperty("molora.repo.root", ".."));
        Path maker = repo.resolve("native-build/tests/lora-routing/make_tiny.py");
        Path out = Files.createDirectories(dir.resolve("moe"));
        ProcessBuilder pb = new ProcessBuilder("python3", maker.toString(), out.toString(),
                NativeTestSupport.vocab("llama-spm").toString()).redirectErrorStream(true);
        pb.environment().put("PYTHONPATH", NativeTestSupport.nativeDir().resolve("src/gguf-py").toString());
        Process proc = pb.start();
        String log = new String(proc.getInputStream().readAllBytes());
        assertTrue(proc.waitFor(120, TimeUnit.SECONDS));
        Assumptions.assumeTrue(proc.exitValue() == 0 || !log.contains("No module named 'numpy'"), "no numpy: " + log);
        assertEquals(0, proc.exitValue(), log);

        try (Model moe = Model.load(out.resolve("tiny-moe.gguf"), ModelParams.defaults());
             LoraAdapter experts = LoraAdapter.load(moe, "experts", out.resolve("a-moe.gguf"));
             Context ctx = Context.create(moe, ContextParams.defaults().withContextSize(64).withBatch(16, 16))) {
            LlamaException e = assertThrows(LlamaException.class,
                    () -> ctx.setRouting(List.of(experts), new float[] {1f}, RoutingParams.defaults()));
            assertTrue(e.getMessage().contains("MoE experts") && e.getMessage().contains("code -2"), e.getMessage());
            LlamaException b = assertThrows(LlamaException.class, () -> LoraAdapter.routedCopyBytes(moe,
                    List.of(experts), new float[] {1f}, RoutingParams.defaults()));
            assertTrue(b.getMessage().contains("code -2"), b.getMessage());
        }
    }
}
