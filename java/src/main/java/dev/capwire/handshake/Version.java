package dev.capwire.handshake;

import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code MAJOR.MINOR.PATCH} version, optionally with a {@code -prerelease} and {@code +build} suffix
 * (semantic versioning's syntax). Ordered by the three numbers; a prerelease sorts before its release, and
 * prereleases of one release compare as strings (enough for a minimum-version policy).
 */
public final class Version implements Comparable<Version> {
    private static final Pattern SYNTAX = Pattern.compile(
            "(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})\\.(0|[1-9][0-9]{0,8})(?:-([0-9A-Za-z.-]+))?(?:\\+[0-9A-Za-z.-]+)?");

    private final int major;
    private final int minor;
    private final int patch;
    private final String prerelease;
    private final String text;

    private Version(int major, int minor, int patch, String prerelease, String text) {
        this.major = major;
        this.minor = minor;
        this.patch = patch;
        this.prerelease = prerelease;
        this.text = text;
    }

    /** Parses {@code text}, or returns null when it is not a version. */
    public static Version parseOrNull(String text) {
        Matcher m = SYNTAX.matcher(text);
        if (!m.matches()) {
            return null;
        }
        return new Version(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                m.group(4), text);
    }

    public static Version parse(String text) {
        Version version = parseOrNull(text);
        if (version == null) {
            throw new IllegalArgumentException("not a MAJOR.MINOR.PATCH version: '" + text + "'");
        }
        return version;
    }

    public int major() {
        return major;
    }

    /** Whether a client built against {@code wanted} can use this version: same major, and not older. */
    public boolean satisfies(Version wanted) {
        return major == wanted.major && compareTo(wanted) >= 0;
    }

    @Override
    public int compareTo(Version other) {
        int c = Integer.compare(major, other.major);
        if (c == 0) {
            c = Integer.compare(minor, other.minor);
        }
        if (c == 0) {
            c = Integer.compare(patch, other.patch);
        }
        if (c == 0 && (prerelease != null || other.prerelease != null)) {
            if (prerelease == null) {
                return 1;
            }
            if (other.prerelease == null) {
                return -1;
            }
            c = prerelease.compareTo(other.prerelease);
        }
        return c;
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Version && compareTo((Version) other) == 0;
    }

    @Override
    public int hashCode() {
        return (major * 31 + minor) * 31 + patch;
    }

    @Override
    public String toString() {
        return text;
    }
}
