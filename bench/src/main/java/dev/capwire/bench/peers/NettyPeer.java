package dev.capwire.bench.peers;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;
import io.netty.channel.unix.DomainSocketChannel;
import io.netty.util.ReferenceCountUtil;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Netty 4.1 over epoll domain sockets with its length-field frame decoder, used the common way: the caller
 * writes from its own thread, and pipelined writes are flushed in batches.
 */
public final class NettyPeer implements EchoPeer {
    private static final int FLUSH_EVERY = 64;

    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    private final Channel channel;
    private final ByteBuf frame;
    private final AtomicLong received = new AtomicLong();
    private int unflushed;

    public NettyPeer(Path socket, int payloadBytes) throws InterruptedException {
        frame = Unpooled.unreleasableBuffer(Unpooled.wrappedBuffer(Frames.notify(payloadBytes)));
        channel = new Bootstrap().group(group).channel(EpollDomainSocketChannel.class)
                .handler(new ChannelInitializer<DomainSocketChannel>() {
                    @Override
                    protected void initChannel(DomainSocketChannel ch) {
                        ch.pipeline().addLast(PeerServer.nettyFrameDecoder(), new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelRead(ChannelHandlerContext ctx, Object echoed) {
                                ReferenceCountUtil.release(echoed);
                                received.incrementAndGet();
                            }
                        });
                    }
                }).connect(new DomainSocketAddress(socket.toFile())).sync().channel();
    }

    @Override
    public void roundTrip() {
        long target = received.get() + 1;
        channel.writeAndFlush(frame.duplicate());
        while (received.get() < target) {
            Thread.yield(); // two cores, three busy threads: let the event loops run
        }
    }

    @Override
    public boolean send() {
        if (!channel.isWritable()) {
            flush();
            return false;
        }
        channel.write(frame.duplicate());
        if (++unflushed == FLUSH_EVERY) {
            flush();
        }
        return true;
    }

    @Override
    public void flush() {
        if (unflushed > 0) {
            unflushed = 0;
            channel.flush();
        }
    }

    @Override
    public long received() {
        return received.get();
    }

    @Override
    public void close() throws InterruptedException {
        channel.close().sync();
        group.shutdownGracefully().sync();
    }
}
