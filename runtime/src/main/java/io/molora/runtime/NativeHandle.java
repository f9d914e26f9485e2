package io.molora.runtime;

import java.lang.foreign.MemorySegment;

/**
 * The one owner of a native pointer: {@link #get()} refuses after {@link #release()}, and release runs the native
 * free exactly once. Owners ({@link Model}, {@link Context}, ...) hold one of these and delegate to it.
 */
final class NativeHandle {
    private final String what;
    private MemorySegment pointer;
    private final Runnable free;

    NativeHandle(String what, MemorySegment pointer, java.util.function.Consumer<MemorySegment> free) {
        if (pointer == null || pointer.equals(MemorySegment.NULL)) {
            throw new IllegalArgumentException(what + ": null native pointer");
        }
        this.what = what;
        this.pointer = pointer;
        MemorySegment p = pointer;
        this.free = () -> free.accept(p);
    }

    MemorySegment get() {
        MemorySegment p = pointer;
        if (p == null) {
            throw new IllegalStateException(what + " is closed");
        }
        return p;
    }

    boolean isOpen() {
        return pointer != null;
    }

    /** Frees the native object; harmless when already released. */
    void release() {
        if (pointer != null) {
            pointer = null;
            free.run();
        }
    }
}
