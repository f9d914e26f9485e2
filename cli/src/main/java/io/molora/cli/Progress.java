package io.molora.cli;

import io.molora.engine.ProgressReporter;
import java.io.PrintWriter;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

/**
 * Progress on stderr: a bar per task on a terminal; a batch run's counters and their display (a bar on a terminal,
 * periodic lines otherwise).
 */
final class Progress {
    private Progress() {}

    /** A progress bar on stderr when it is a terminal and the work is long enough to watch; nothing otherwise. */
    static ProgressReporter.Counter bar(String task, int total) {
        if (System.console() == null || total < 8) {
            return ProgressReporter.none().start(task, total);
        }
        ProgressBar bar = new ProgressBarBuilder().setTaskName(task).setInitialMax(total).showSpeed()
                .setConsumer(new ConsoleProgressBarConsumer(System.err)).build();
        return new ProgressReporter.Counter() {
            @Override
            public void stepTo(long done) {
                bar.stepTo(done);
            }

            @Override
            public void close() {
                bar.close();
            }
        };
    }

    /** Counters shared with the progress display. */
    static final class Stats {
        final int total;
        final long start = System.nanoTime();
        int done;
        int failed;
        long tokens;

        Stats(int total) {
            this.total = total;
        }

        double seconds() {
            return (System.nanoTime() - start) / 1e9;
        }
    }

    /** A progress bar on a terminal, plain periodic lines otherwise. */
    interface Display extends AutoCloseable {
        void update(Stats s);

        @Override
        void close();

        static Display create(String mode, double interval, int total, PrintWriter err) {
            boolean terminal = System.console() != null && System.console().isTerminal();
            String m = mode.equals("auto") ? (terminal ? "bar" : "lines") : mode;
            return switch (m) {
                case "none" -> new Display() {
                    public void update(Stats s) {}

                    public void close() {}
                };
                case "bar" -> {
                    ProgressBar bar = new ProgressBarBuilder().setTaskName("complete").setInitialMax(total)
                            .setStyle(ProgressBarStyle.COLORFUL_UNICODE_BLOCK).setUnit(" items", 1)
                            .setConsumer(new ConsoleProgressBarConsumer(System.err)).showSpeed().build();
                    yield new Display() {
                        public void update(Stats s) {
                            bar.stepTo(s.done + s.failed);
                            bar.setExtraMessage(String.format(" %.1f tok/s%s", s.tokens / Math.max(s.seconds(), 1e-9),
                                    s.failed > 0 ? ", " + s.failed + " failed" : ""));
                        }

                        public void close() {
                            bar.close();
                        }
                    };
                }
                case "lines" -> new Display() {
                    long last = System.nanoTime();

                    public void update(Stats s) {
                        long now = System.nanoTime();
                        if ((now - last) / 1e9 < interval && s.done + s.failed < s.total) {
                            return;
                        }
                        last = now;
                        double secs = s.seconds();
                        int finished = s.done + s.failed;
                        double rate = finished / Math.max(secs, 1e-9);
                        long eta = rate > 0 ? Math.round((s.total - finished) / rate) : -1;
                        err.printf("molora: %d/%d done, %d failed, %.1f tok/s, elapsed %ds, eta %s%n", finished, s.total,
                                s.failed, s.tokens / Math.max(secs, 1e-9), Math.round(secs), eta < 0 ? "?" : eta + "s");
                        err.flush();
                    }

                    public void close() {}
                };
                default -> throw new IllegalArgumentException("--progress must be auto, bar, lines or none, got " + mode);
            };
        }
    }
}
