package dev.capwire.rpc;

import dev.capwire.rpc.testing.StatReply;
import dev.capwire.rpc.testing.StatRequest;

/**
 * Caps the bootstrap tests ask for: files in a newer major and a newer minor than served, caps served with a policy
 * that refuses everyone, one that admits this user and one that throws, and one never served; and the two small caps
 * the in-process tests pass around, one that answers bytes and one that makes such caps.
 */
final class OtherCaps {
    private OtherCaps() {
    }

    @Capability(name = "files", version = "2.0.0")
    interface FilesV2 {
        @Method(1)
        StatReply stat(StatRequest request);
    }

    @Capability(name = "files", version = "1.3.0")
    interface FilesV13 {
        @Method(1)
        StatReply stat(StatRequest request);
    }

    @Capability(name = "files", version = "1.1.0")
    interface FilesV11 {
        @Method(1)
        StatReply stat(StatRequest request);
    }

    @Capability(name = "secret", version = "1.0.0")
    interface Secret {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "mine", version = "1.0.0")
    interface Mine {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "guarded", version = "1.0.0")
    interface Guarded {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "nobody", version = "1.0.0")
    interface Nobody {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "one", version = "1.0.0")
    interface One {
        @Method(1)
        byte[] get();
    }

    @Capability(name = "maker", version = "1.0.0")
    interface Maker {
        @Method(1)
        One make();
    }
}
