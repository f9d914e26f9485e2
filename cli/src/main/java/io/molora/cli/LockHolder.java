package io.molora.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Which process holds a lock on a file: Java's {@link java.nio.channels.FileChannel#tryLock} takes a POSIX record
 * lock ({@code fcntl}), which Linux lists in {@code /proc/locks} as {@code N: POSIX ADVISORY WRITE PID MAJ:MIN:INODE
 * START END}. Empty where that is not available.
 */
final class LockHolder {
    private LockHolder() {}

    static Optional<Long> of(Path file) {
        try {
            long inode = ((Number) Files.getAttribute(file, "unix:ino")).longValue();
            long dev = ((Number) Files.getAttribute(file, "unix:dev")).longValue();
            // glibc's gnu_dev_major / gnu_dev_minor
            long major = ((dev >>> 8) & 0xfff) | ((dev >>> 32) & ~0xfffL);
            long minor = (dev & 0xff) | ((dev >>> 12) & ~0xffL);
            List<String> lines = Files.readAllLines(Path.of("/proc/locks"));
            Optional<Long> byInode = Optional.empty();
            for (String line : lines) {
                String[] f = line.trim().split("\\s+");
                if (f.length < 8 || !f[1].equals("POSIX")) {
                    continue;  // other kinds, and "->" lines of waiters
                }
                String[] id = f[5].split(":");
                if (id.length != 3 || !id[2].equals(Long.toString(inode))) {
                    continue;
                }
                long pid = Long.parseLong(f[4]);
                if (Long.parseLong(id[0], 16) == major && Long.parseLong(id[1], 16) == minor) {
                    return Optional.of(pid);
                }
                byInode = byInode.or(() -> Optional.of(pid));  // overlay file systems list another device
            }
            return byInode;
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }
}
