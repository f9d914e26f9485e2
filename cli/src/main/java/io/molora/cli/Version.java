package io.molora.cli;

import picocli.CommandLine.IVersionProvider;

/** Version from the jar manifest, plus the llama.cpp it was built against. */
final class Version implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = Main.class.getPackage().getImplementationVersion();
        return new String[] {"molora " + (v == null ? "(development build)" : v), "llama.cpp v0.5.0 (pinned, patched)"};
    }
}
