package io.molora.cli;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Properties;
import picocli.CommandLine;
import picocli.CommandLine.IDefaultValueProvider;
import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.OptionSpec;

/**
 * Option defaults from a config file: {@code $MOLORA_CONFIG}, else {@code ~/.config/molora/config.properties}.
 * Keys are long option names without dashes, optionally prefixed by the command: {@code model=/m/llama.gguf},
 * {@code ctx-size=8192}, {@code complete.parallel=8}, {@code chat.temp=0.7}. The command line wins over the file.
 */
final class ConfigDefaults implements IDefaultValueProvider {
    private static volatile Properties cached;
    private static volatile Path cachedPath;

    static Path path() {
        String env = System.getenv("MOLORA_CONFIG");
        String prop = System.getProperty("molora.config");
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop);
        }
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        return Path.of(System.getProperty("user.home"), ".config", "molora", "config.properties");
    }

    private static Properties load() {
        Path p = path();
        if (cached != null && p.equals(cachedPath)) {
            return cached;
        }
        Properties props = new Properties();
        if (Files.isRegularFile(p)) {
            try (Reader r = Files.newBufferedReader(p)) {
                props.load(r);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot read config file " + p + ": " + e.getMessage(), e);
            }
        }
        cachedPath = p;
        cached = props;
        return props;
    }

    @Override
    public String defaultValue(ArgSpec arg) {
        if (!(arg instanceof OptionSpec option)) {
            return null;
        }
        Properties props = load();
        if (props.isEmpty()) {
            return null;
        }
        String command = option.command() == null ? "" : option.command().name();
        String key = option.longestName().replaceFirst("^-+", "");
        String name = props.getProperty(command + "." + key) != null ? command + "." + key : key;
        String v = props.getProperty(name);
        if (v != null) {
            check(option, name, v);
        }
        return v;
    }

    /** A value the option's own converter refuses is a bad command line that names the file and the key. */
    private static void check(OptionSpec option, String key, String value) {
        for (ITypeConverter<?> c : option.converters()) {
            try {
                c.convert(value);
            } catch (Exception e) {
                throw new CommandLine.ParameterException(option.command().commandLine(), "config file " + path() + ": "
                        + key + "=" + value + ": " + e.getMessage());
            }
        }
    }
}
