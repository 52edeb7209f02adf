import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.ServerVersion;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;

import java.util.concurrent.CountDownLatch;

/**
 * Minimal launcher for mongo-java-server (in-memory backend) used by tests and CI.
 *
 * <pre>
 * java -cp 'classes:lib/*' MongoServerMain [host] [port] [serverVersion]
 * </pre>
 *
 * host defaults to 127.0.0.1, port to 27018, serverVersion to MONGO_5_0 (the Node
 * driver 6.x refuses servers below wire version 8, i.e. mongo-java-server's default
 * MONGO_3_6). Blocks until the JVM receives SIGTERM/SIGINT, then shuts down cleanly.
 */
public final class MongoServerMain {
    private MongoServerMain() {
    }

    public static void main(String[] args) throws Exception {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 27018;
        ServerVersion version = args.length > 2 ? ServerVersion.valueOf(args[2]) : ServerVersion.MONGO_5_0;

        MemoryBackend backend = new MemoryBackend();
        backend.version(version);
        if (Boolean.getBoolean("mongo.oplog")) {
            backend.enableOplog();
        }
        MongoServer server = new MongoServer(backend);
        server.bind(host, port);

        CountDownLatch stopped = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            System.out.println("MongoServerMain: shutting down");
            server.shutdownNow();
            stopped.countDown();
        }, "mongo-shutdown"));

        System.out.println("MongoServerMain: listening on " + host + ":" + port
                + " (version " + version + ", wire " + version.getWireVersion() + ")");
        System.out.flush();
        stopped.await();
    }
}
