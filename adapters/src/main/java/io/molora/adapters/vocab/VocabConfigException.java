package io.molora.adapters.vocab;

/** A vocabulary-routing config that cannot be used, with where the problem is: {@code file:line:column: problem}. */
public final class VocabConfigException extends IllegalArgumentException {
    private final String source;
    private final int line;
    private final int column;
    private final String problem;

    public VocabConfigException(String source, int line, int column, String problem) {
        super(source + ":" + line + ":" + column + ": " + problem);
        this.source = source;
        this.line = line;
        this.column = column;
        this.problem = problem;
    }

    /** The file name (or other label) the config came from. */
    public String source() {
        return source;
    }

    /** 1-based line of the offending value. */
    public int line() {
        return line;
    }

    /** 1-based column of the offending value. */
    public int column() {
        return column;
    }

    /** The problem without the location. */
    public String problem() {
        return problem;
    }
}
