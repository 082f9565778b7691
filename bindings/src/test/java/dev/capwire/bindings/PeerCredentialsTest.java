package dev.capwire.bindings;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.OptionalLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;
import org.junit.jupiter.api.io.TempDir;

@ExtendWith(LeakCheck.class)
class PeerCredentialsTest {
    @TempDir(factory = SocketDirFactory.class)
    Path dir;

    @Test
    void overAPathEachSideSeesTheOthersRealIdentityAndAddress() throws Exception {
        assertBothEnds(SocketDirFactory.socketIn(dir, "creds.sock"));
    }

    @Test
    void overAnAbstractNameEachSideSeesTheOthersRealIdentityAndAddress() throws Exception {
        assertBothEnds(UnixAddress.abstractName("capwire-test-creds-" + ProcessHandle.current().pid()));
    }

    private static void assertBothEnds(UnixAddress address) throws Exception {
        try (ConnectedChild connection = ConnectedChild.over(address)) {
            ChildJvm child = connection.child;
            NativeSocket accepted = connection.accepted;
            PeerCredentials childSays = PeerChild.identity(child);
            assertEquals(child.pid(), childSays.pid().getAsLong(), "the child reports its own Process.pid()");
            assertEquals(childSays, accepted.peerCredentials(), "the parent's view of the child");

            PeerCredentials parent = ProcSelf.identity();
            assertNotEquals(child.pid(), parent.pid().getAsLong());
            assertEquals(parent, PeerChild.credentials(child), "the child's view of the parent");

            assertEquals(address, connection.listener.localAddress());
            assertEquals(address, accepted.localAddress());
            assertEquals(address.toString(), child.ask("remote-address"));
            assertEquals("unix:(unnamed)", accepted.remoteAddress().toString(), "the child never bound a name");
            assertEquals("unix:(unnamed)", child.ask("local-address"));
        }
    }

    @Test
    void aSocketPairSeesThisProcess() throws Exception {
        try (SocketPair pair = new SocketPair()) {
            assertEquals(ProcSelf.identity(), pair.first.peerCredentials());
            assertEquals(ProcSelf.identity(), pair.second.peerCredentials());
        }
    }

    @Test
    void thePeerPidfdNamesThePeerProcessWhereTheKernelHasSoPeerPidfd() throws Exception {
        try (SocketPair pair = new SocketPair()) {
            Optional<FileDescriptor> pidfd = pair.first.peerPidfd();
            String[] release = System.getProperty("os.version").split("[.-]");
            boolean atLeast65 = Integer.parseInt(release[0]) > 6
                    || Integer.parseInt(release[0]) == 6 && Integer.parseInt(release[1]) >= 5;
            assertEquals(atLeast65, pidfd.isPresent(), "kernel " + System.getProperty("os.version"));
            if (pidfd.isEmpty()) {
                return; // the clean fallback: no pidfd, and no exception
            }
            try (FileDescriptor owned = pidfd.get()) {
                assertTrue(owned.isCloseOnExec());
                // The kernel says which process a pidfd refers to in its fdinfo.
                long number = owned.acquire();
                try {
                    String fdinfo = Files.readString(Path.of("/proc/self/fdinfo/" + number));
                    assertTrue(fdinfo.contains("Pid:\t" + ProcessHandle.current().pid() + "\n"), fdinfo);
                } finally {
                    owned.release();
                }
            }
        }
    }

    @Test
    void unknownIsEmptyAndZeroIsAValue() {
        PeerCredentials partlyKnown = new PeerCredentials(PeerCredentials.UNKNOWN, 0, PeerCredentials.UNKNOWN);
        assertEquals(OptionalLong.empty(), partlyKnown.pid());
        assertEquals(OptionalLong.of(0), partlyKnown.uid(), "uid 0 is root, not unknown");
        assertEquals(OptionalLong.empty(), partlyKnown.gid());
        assertEquals("PeerCredentials{pid=unknown, uid=0, gid=unknown}", partlyKnown.toString());

        PeerCredentials root = new PeerCredentials(0, 0, 0);
        assertTrue(root.pid().isPresent() && root.uid().isPresent() && root.gid().isPresent());
        assertNotEquals(root, partlyKnown);
        assertEquals(new PeerCredentials(-1, 0, -1), partlyKnown);
        assertEquals(new PeerCredentials(-1, 0, -1).hashCode(), partlyKnown.hashCode());
        assertFalse(partlyKnown.equals(null));
    }
}
