package io.molora.cli;

import io.molora.runtime.Devices;
import java.io.PrintWriter;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

/** Lists the devices llama.cpp can use, with their memory. */
@Command(name = "devices", mixinStandardHelpOptions = true,
        description = "List the compute devices llama.cpp found (CPU, GPUs) with free and total memory.")
final class DevicesCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        for (Devices.Device d : Devices.list()) {
            out.printf("%-8s %-6s %-40s free %8.2f GiB of %8.2f GiB%n", d.name(), d.kind(), d.description(),
                    d.freeBytes() / (double) (1L << 30), d.totalBytes() / (double) (1L << 30));
        }
        out.flush();
        return 0;
    }
}
