package io.molora.cli;

import java.io.BufferedWriter;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code molora} command: a Picocli root whose subcommands each return their exit code. */
@Command(name = "molora",
        mixinStandardHelpOptions = true,
        versionProvider = Version.class,
        description = "Per-token LoRA adapter routing over llama.cpp.",
        subcommands = {GenerateCommand.class, ChatCommand.class, CompleteCommand.class, ServeCommand.class, DemoCommand.class, InspectCommand.class, BenchCommand.class, DevicesCommand.class, TrainRouterCommand.class, EvalRouterCommand.class, PerplexityCommand.class, picocli.AutoComplete.GenerateCompletion.class,
                CommandLine.HelpCommand.class},
        footerHeading = "%nExit codes:%n",
        footer = {"  0  success", "  1  the work failed (the message says why)", "  2  bad command line"})
public final class Main {
    public static void main(String[] args) {
        int code;
        try {
            code = commandLine().execute(args);
        } catch (OutOfMemoryError e) {
            // picocli hands errors on: one line, as for every other failure
            System.err.println("molora: error: out of memory: the work needs more than the JVM's "
                    + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB of heap (give more with "
                    + "MOLORA_JAVA_OPTS=-Xmx..., or ask for less: a smaller --hidden, -c, --parallel)");
            code = 1;
        }
        System.exit(code);
    }

    /** The configured command line (tests drive it directly). */
    public static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new Main());
        // stdout straight on file descriptor 1, so that a write error (the reader of a pipe has gone) shows in
        // PrintWriter.checkError(); picocli's default sits on System.out, a PrintStream that keeps errors to itself
        cli.setOut(new PrintWriter(new BufferedWriter(new OutputStreamWriter(new FileOutputStream(FileDescriptor.out),
                System.out.charset())), true));
        cli.setExecutionExceptionHandler(new ErrorReporter());
        cli.setCaseInsensitiveEnumValuesAllowed(true);
        return cli;
    }
}
