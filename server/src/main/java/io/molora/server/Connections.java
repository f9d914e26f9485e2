package io.molora.server;

import io.helidon.common.buffers.DataReader;
import io.helidon.http.Headers;
import io.helidon.http.HttpPrologue;
import io.helidon.webserver.ConnectionContext;
import io.helidon.webserver.http1.Http1ConnectionListener;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ScheduledThreadPoolExecutor;
import java.util.concurrent.TimeUnit;

/**
 * What Helidon 4's HTTP/1 connections lack for a server that must outlast hostile clients, on the connection's own
 * thread (Helidon reads a connection and runs its handlers on one virtual thread):
 * <ul>
 * <li>time limits on reading a request: its headers (from the end of its request line) and its body (while a handler
 * reads it). Helidon's blocking reads have none (its idle timeout only interrupts a connection waiting for a request
 * line). When a limit passes the thread is interrupted, and as its reads are on an interruptible channel, the channel
 * closes: the read ends at once, and the connection with it;
 * <li>the connection's context for the handler, to {@linkplain #watch watch} it for the client leaving while the
 * request waits or decodes;
 * <li>closing a connection after an answer (a client that sent {@code Connection: close}, a watched request): the
 * routing's filter asks {@link #closeAfter()} and ends the connection.
 * </ul>
 * It is the HTTP/1 protocol's receive listener: the request line and the headers are its events.
 */
final class Connections implements Http1ConnectionListener, AutoCloseable {
    /** The state of the connection whose thread this is. */
    private static final class State {
        ConnectionContext ctx;
        Deadline headers;
        boolean closeAfter;
    }

    private static final ThreadLocal<State> CURRENT = new ThreadLocal<>();

    private final Duration timeout;
    private final ScheduledThreadPoolExecutor timer = new ScheduledThreadPoolExecutor(1, r -> {
        Thread t = new Thread(r, "molora-read-timeout");
        t.setDaemon(true);
        return t;
    });

    Connections(Duration timeout) {
        this.timeout = timeout;
        timer.setRemoveOnCancelPolicy(true);  // most limits end long before they pass
    }

    Duration timeout() {
        return timeout;
    }

    private static State state() {
        State s = CURRENT.get();
        if (s == null) {
            s = new State();
            CURRENT.set(s);
        }
        return s;
    }

    // ---- the receive listener: a request line was read, then its headers

    @Override
    public void prologue(ConnectionContext ctx, HttpPrologue prologue) {
        State s = state();
        s.ctx = ctx;
        s.closeAfter = false;
        if (s.headers != null) {
            s.headers.end();  // the last request's headers were refused: its limit must not end this one
        }
        s.headers = arm();
    }

    @Override
    public void headers(ConnectionContext ctx, Headers headers) {
        State s = state();
        if (s.headers != null) {
            s.headers.end();
            s.headers = null;
        }
    }

    // ---- deadlines

    /** A time limit on what this thread does until {@link #end()}: when it passes first, the thread is interrupted. */
    static final class Deadline implements AutoCloseable {
        private final Thread thread = Thread.currentThread();
        private ScheduledFuture<?> future;
        private boolean ended;
        private boolean fired;

        private synchronized void fire() {
            if (!ended) {
                fired = true;
                thread.interrupt();  // a read blocked on the connection's channel closes it
            }
        }

        /** Ends the limit; true when it had passed (the connection is closed). Clears the interrupt it caused. */
        boolean end() {
            boolean f;
            synchronized (this) {
                ended = true;
                f = fired;
            }
            if (future != null) {
                future.cancel(false);
            }
            if (f && thread == Thread.currentThread()) {
                Thread.interrupted();
            }
            return f;
        }

        @Override
        public void close() {
            end();
        }
    }

    /** Starts the read timeout for this thread. */
    Deadline arm() {
        Deadline d = new Deadline();
        d.future = timer.schedule(d::fire, timeout.toNanos(), TimeUnit.NANOSECONDS);
        return d;
    }

    // ---- closing after the answer

    /** Asks that this thread's connection close once the request's answer is sent. */
    static void closeAfterAnswer() {
        state().closeAfter = true;
    }

    /** Whether this thread's connection closes once the request's answer is sent. */
    static boolean closeAfter() {
        State s = CURRENT.get();
        return s != null && s.closeAfter;
    }

    // ---- watching for the client leaving

    /** A watch over the connection of a request; {@link #close()} when the request has been answered. */
    static final class Watch implements AutoCloseable {
        private volatile boolean over;

        @Override
        public void close() {
            over = true;
        }
    }

    /**
     * Watches the connection of the request on this thread, whose body has been read, for the client leaving: a read
     * that ends (the client closed or reset the connection) runs {@code gone}. The connection closes after the answer
     * (the read goes on until then, and Helidon must not read the connection after it). Null when the connection
     * cannot be watched (data already waits: a pipelined request).
     */
    static Watch watch(Runnable gone) {
        State s = CURRENT.get();
        if (s == null || s.ctx == null) {
            return null;
        }
        DataReader reader = s.ctx.dataReader();
        if (reader.available() > 0) {
            return null;
        }
        s.closeAfter = true;
        Watch w = new Watch();
        Thread.ofVirtual().name("molora-watch").start(() -> {
            try {
                reader.ensureAvailable();  // blocks until the client sends more, closes, or the server closes
            } catch (RuntimeException e) {
                if (!w.over) {
                    gone.run();
                }
            }
        });
        return w;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
