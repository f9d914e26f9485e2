package io.molora.runtime;

import static io.molora.bindings.llama.llama_h.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;

/** The compute devices llama.cpp found (ggml backend devices): CPU, GPUs, accelerators. */
public final class Devices {
    private Devices() {}

    /** One device with its memory as the backend reports it now. */
    public record Device(String name, String description, Kind kind, long freeBytes, long totalBytes) {
        public boolean isGpu() {
            return kind == Kind.GPU || kind == Kind.IGPU;
        }
    }

    public enum Kind { CPU, GPU, IGPU, ACCEL, OTHER }

    public static List<Device> list() {
        Backend.init();
        List<Device> devices = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment free = arena.allocate(ValueLayout.JAVA_LONG);
            MemorySegment total = arena.allocate(ValueLayout.JAVA_LONG);
            for (long i = 0, n = ggml_backend_dev_count(); i < n; i++) {
                // ggml_backend_dev_t
                MemorySegment dev = ggml_backend_dev_get(i);
                ggml_backend_dev_memory(dev, free, total);
                devices.add(new Device(cString(ggml_backend_dev_name(dev)), cString(ggml_backend_dev_description(dev)),
                        kind(ggml_backend_dev_type(dev)), free.get(ValueLayout.JAVA_LONG, 0),
                        total.get(ValueLayout.JAVA_LONG, 0)));
            }
        }
        return devices;
    }

    public static boolean hasGpu() {
        return list().stream().anyMatch(Device::isGpu);
    }

    private static Kind kind(int type) {
        if (type == GGML_BACKEND_DEVICE_TYPE_CPU()) {
            return Kind.CPU;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_GPU()) {
            return Kind.GPU;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_IGPU()) {
            return Kind.IGPU;
        } else if (type == GGML_BACKEND_DEVICE_TYPE_ACCEL()) {
            return Kind.ACCEL;
        }
        return Kind.OTHER;
    }

    private static String cString(MemorySegment p) {
        return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(Long.MAX_VALUE).getString(0);
    }
}
