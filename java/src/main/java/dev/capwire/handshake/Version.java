package dev.capwire.handshake;

import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A {@code MAJOR.MINOR.PATCH} version, optionally with a {@code -prerelease} and {@code +build} suffix, with
 * the syntax and precedence of Semantic Versioning 2.0.0 (semver.org): a prerelease sorts before its release;
 * prereleases compare identifier by identifier, numeric ones as numbers and below alphanumeric ones, and a
 * prefix below the longer set; build metadata never counts. Each number is at most nine digits, so it fits
 * an int.
 */
public final class Version implements Comparable<Version> {
    private static final String NUMBER = "(0|[1-9][0-9]{0,8})";
    // A numeric identifier has no leading zero; anything holding a letter or hyphen is alphanumeric.
    private static final String PRERELEASE_IDENTIFIER = "(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)";
    private static final String BUILD_IDENTIFIER = "[0-9A-Za-z-]+";
    private static final Pattern SYNTAX = Pattern.compile(NUMBER + "\\." + NUMBER + "\\." + NUMBER
            + "(?:-(" + PRERELEASE_IDENTIFIER + "(?:\\." + PRERELEASE_IDENTIFIER + ")*))?"
            + "(?:\\+" + BUILD_IDENTIFIER + "(?:\\." + BUILD_IDENTIFIER + ")*)?");

    private final int major;
    private final int minor;
    private final int patch;
    /** The prerelease's dot-separated identifiers; empty for a release. */
    private final String[] prerelease;
    private final String text;

    private Version(int major, int minor, int patch, String[] prerelease, String text) {
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
        String[] prerelease = m.group(4) == null ? new String[0] : m.group(4).split("\\.");
        return new Version(Integer.parseInt(m.group(1)), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)),
                prerelease, text);
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
        if (c != 0) {
            return c;
        }
        if (prerelease.length == 0 || other.prerelease.length == 0) {
            // A release outranks its prereleases, though it has fewer identifiers.
            return Boolean.compare(prerelease.length == 0, other.prerelease.length == 0);
        }
        for (int i = 0; i < Math.min(prerelease.length, other.prerelease.length); i++) {
            c = compareIdentifiers(prerelease[i], other.prerelease[i]);
            if (c != 0) {
                return c;
            }
        }
        return Integer.compare(prerelease.length, other.prerelease.length);
    }

    private static int compareIdentifiers(String a, String b) {
        boolean aNumeric = isNumeric(a);
        boolean bNumeric = isNumeric(b);
        if (aNumeric && bNumeric) {
            // No leading zeros and no size limit: the longer number is larger, equal lengths compare digitwise.
            int c = Integer.compare(a.length(), b.length());
            return c != 0 ? c : a.compareTo(b);
        }
        if (aNumeric != bNumeric) {
            return aNumeric ? -1 : 1;
        }
        return a.compareTo(b); // ASCII only, so UTF-16 order is ASCII order
    }

    private static boolean isNumeric(String identifier) {
        return identifier.chars().allMatch(c -> c >= '0' && c <= '9');
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof Version && compareTo((Version) other) == 0;
    }

    @Override
    public int hashCode() {
        // Identifiers of equal precedence are equal strings (numeric ones have no leading zeros).
        return ((major * 31 + minor) * 31 + patch) * 31 + Arrays.hashCode(prerelease);
    }

    @Override
    public String toString() {
        return text;
    }
}
