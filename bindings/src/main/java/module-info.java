/**
 * jextract-generated FFM bindings for the patched {@code llama.h}. This descriptor is the one hand-written file of the
 * module ({@code regenerate} replaces only the package): the bindings are for the runtime alone.
 */
module io.molora.bindings {
    exports io.molora.bindings.llama to io.molora.runtime;
}
