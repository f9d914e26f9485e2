package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import io.molora.bindings.llama.ggml_log_callback;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The process-wide llama.cpp backend: loads the native libraries once, initialises them, and sends llama.cpp's log
 * to the {@code java.util.logging} logger {@code llama.cpp} (quiet by default: only errors pass unless
 * {@link #setLogLevel} says otherwise).
 */
public final class Backend {
    private static final Logger LOG = Logger.getLogger("llama.cpp");

    private static volatile boolean initialised;
    private static volatile Level threshold = Level.SEVERE;
    /** The log upcall stub lives as long as its registration: the life of the process. */
    private static Arena logArena;

    private Backend() {}

    /** Loads and initialises llama.cpp; safe to call any number of times, from any thread. */
    public static void init() {
        if (initialised) {
            return;
        }
        synchronized (Backend.class) {
            if (initialised) {
                return;
            }
            Path libDir = NativeLibraries.load();
            logArena = Arena.ofShared();
            // void (*ggml_log_callback)(enum ggml_log_level level, const char * text, void * user_data)
            MemorySegment callback = ggml_log_callback.allocate(Backend::onLog, logArena);
            llama_log_set(callback, MemorySegment.NULL);
            loadBackendModules(libDir);
            llama_backend_init();
            initialised = true;
        }
    }

    /**
     * A CUDA (or {@code --backend-dl}) build from native-build has ggml's backends as loadable modules in {@code bin/}
     * beside {@code lib/} (GGML_BACKEND_DL): load the best of each that this machine runs — a CUDA module whose driver
     * is missing is skipped, leaving the CPU. A library with its backends linked in has them registered already.
     */
    private static void loadBackendModules(Path libDir) {
        if (ggml_backend_reg_count() > 0) {
            return;
        }
        Path bin = libDir.getParent() == null ? null : libDir.getParent().resolve("bin");
        Path modules = bin != null && Files.isDirectory(bin) ? bin : libDir;
        try (Arena arena = Arena.ofConfined()) {
            ggml_backend_load_all_from_path(arena.allocateFrom(modules.toString()));
        }
        if (ggml_backend_reg_count() == 0) {
            throw new LlamaException("no ggml backend could be loaded from " + modules
                    + " (no libggml-cpu module this machine can run); rebuild with native-build/build.sh");
        }
    }

    /** Directory the native libraries were loaded from. */
    public static Path libraryDir() {
        init();
        return NativeLibraries.load();
    }

    /** Passes llama.cpp messages at or above {@code level} to the {@code llama.cpp} logger. */
    public static void setLogLevel(Level level) {
        threshold = level;
    }

    /**
     * Whether model weights may go to the CPU backend's extra buffer types (llama.cpp's {@code use_extra_bufts}: weight
     * repacking, and the AMX buffer on CPUs that report AMX). Off when this build uses AMX: on the AMX-reporting
     * cloud VMs molora is tested on, the AMX kernels fault (SIGILL or SIGSEGV) on the first matrix product of any
     * Q8_0, Q4_0 or other AMX-eligible tensor, taking the JVM with them, and stock llama-simple crashes the same way.
     * {@code -Dmolora.amx=on} turns them back on for hardware where AMX works.
     */
    public static boolean extraBufferTypes() {
        init();
        return AmxCheck.EXTRA_BUFFERS;
    }

    private static final class AmxCheck {
        static final boolean EXTRA_BUFFERS = "on".equals(System.getProperty("molora.amx"))
                || !llama_print_system_info().reinterpret(Long.MAX_VALUE).getString(0).contains("AMX_INT8 = 1");
    }

    public static boolean supportsGpuOffload() {
        init();
        return llama_supports_gpu_offload();
    }

    /** Upcall from native code: must never throw, or the JVM dies. */
    private static void onLog(int ggmlLevel, MemorySegment text, MemorySegment userData) {
        try {
            Level level = switch (ggmlLevel) {
                case 4 -> Level.SEVERE;   // GGML_LOG_LEVEL_ERROR
                case 3 -> Level.WARNING;  // GGML_LOG_LEVEL_WARN
                case 2 -> Level.INFO;     // GGML_LOG_LEVEL_INFO
                default -> Level.FINE;    // DEBUG, CONT, NONE
            };
            if (level.intValue() < threshold.intValue() || text.equals(MemorySegment.NULL)) {
                return;
            }
            String message = text.reinterpret(Long.MAX_VALUE).getString(0).stripTrailing();
            if (!message.isEmpty()) {
                LOG.log(level, message);
            }
        } catch (Throwable ignored) {
            // Nothing sensible to do with a failure to log; never propagate into native code.
        }
    }
}
