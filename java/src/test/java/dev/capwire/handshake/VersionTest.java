package dev.capwire.handshake;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Version precedence and syntax exactly as Semantic Versioning 2.0.0 (semver.org) defines them. */
class VersionTest {
    /** semver.org, item 11: each is lower than the next. */
    private static final String[] SEMVER_ORG_CHAIN = {"1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta",
        "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"};

    @Test
    void theSemverOrgPrecedenceChainIsInOrder() {
        for (int i = 0; i < SEMVER_ORG_CHAIN.length; i++) {
            for (int j = 0; j < SEMVER_ORG_CHAIN.length; j++) {
                int expected = Integer.signum(Integer.compare(i, j));
                assertEquals(expected, Integer.signum(compare(SEMVER_ORG_CHAIN[i], SEMVER_ORG_CHAIN[j])),
                        SEMVER_ORG_CHAIN[i] + " vs " + SEMVER_ORG_CHAIN[j]);
            }
        }
        List<Version> shuffled = new ArrayList<>();
        for (String text : SEMVER_ORG_CHAIN) {
            shuffled.add(Version.parse(text));
        }
        Collections.shuffle(shuffled, new Random(7));
        Collections.sort(shuffled);
        assertEquals(List.of(SEMVER_ORG_CHAIN), shuffled.stream().map(Version::toString).toList());
    }

    @Test
    void numericIdentifiersCompareAsNumbersAndRankBelowAlphanumericOnes() {
        assertTrue(compare("1.0.0-rc.10", "1.0.0-rc.9") > 0, "10 > 9, not '1' < '9'");
        assertTrue(compare("1.0.0-2", "1.0.0-10") < 0);
        assertTrue(compare("1.0.0-999", "1.0.0-a") < 0, "numeric below alphanumeric");
        assertTrue(compare("1.0.0-1a", "1.0.0-999") > 0, "1a has a letter, so it is alphanumeric");
        assertTrue(compare("1.0.0-Z", "1.0.0-a") < 0, "alphanumeric identifiers compare in ASCII order");
        assertTrue(compare("1.0.0--", "1.0.0-0") > 0, "a hyphen alone is alphanumeric");
        // Numeric identifiers have no size limit: longer than a long, still compared as numbers.
        assertTrue(compare("1.0.0-99999999999999999999999", "1.0.0-100000000000000000000000") < 0);
        assertTrue(compare("1.0.0-alpha.1.2", "1.0.0-alpha.1") > 0, "more identifiers rank higher");
    }

    @Test
    void buildMetadataIsIgnoredForPrecedenceAndEquality() {
        assertEquals(0, compare("1.0.0-rc.1+build.1", "1.0.0-rc.1+build.2"));
        assertEquals(Version.parse("1.0.0+001"), Version.parse("1.0.0"));
        assertEquals(Version.parse("1.0.0-rc.1+x").hashCode(), Version.parse("1.0.0-rc.1").hashCode());
        assertTrue(compare("1.0.0-rc.1+zzz", "1.0.0-rc.2") < 0);
        assertTrue(!Version.parse("1.0.0-rc.1").equals(Version.parse("1.0.0-rc.2")));
    }

    @Test
    void malformedPrereleaseAndBuildIdentifiersAreRejected() {
        for (String bad : new String[] {"1.2.3-a..b", "1.2.3-.a", "1.2.3-a.", "1.2.3-", "1.2.3-01", "1.2.3-rc.01",
            "1.2.3-00", "1.2.3+", "1.2.3+a..b", "1.2.3+.a", "1.2.3-a+", "1.2.3-a_b", "1.2.3-é", "1.2.3-a+b+c"}) {
            assertNull(Version.parseOrNull(bad), bad);
        }
        for (String good : new String[] {"1.2.3-0", "1.2.3-0a", "1.2.3-a-b", "1.2.3--", "1.2.3-rc.0",
            "1.2.3+001", "1.2.3+exp.sha.5114f85", "1.0.0-alpha+001", "1.0.0-x.7.z.92", "1.0.0-x-y-z.--"}) {
            assertNotNull(Version.parseOrNull(good), good);
        }
    }

    private static int compare(String a, String b) {
        return Version.parse(a).compareTo(Version.parse(b));
    }
}
