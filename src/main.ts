import "./temporal.ts";
import { getLogger } from "@logtape/logtape";
import { ConfigError, loadConfig } from "./config/index.ts";

let config;
try {
  config = loadConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    console.error(err.message);
    process.exit(78); // EX_CONFIG
  }
  throw err;
}
// Loaded only once the configuration is valid, so a bad variable is reported at once instead of after loading the
// whole server (HTTP stack, database drivers, federation, image processing).
const { setupLogging } = await import("./logging.ts");
const { startServer } = await import("./server.ts");
await setupLogging(config.logLevel, config.logFormat);
const log = getLogger(["clawgram", "server"]);
// Stopping the federation queue cancels its in-flight poll query; @fedify/postgres lets that cancellation surface as an
// unhandled rejection from a timer. It is expected, so it must not crash the process; anything else still does.
process.on("unhandledRejection", (reason) => {
  if ((reason as { code?: string } | null)?.code === "57014") {
    log.debug("Cancelled query after shutdown: {reason}", { reason });
    return;
  }
  log.fatal("Unhandled rejection: {reason}", { reason });
  process.exit(1);
});
const server = await startServer(config);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    log.info("{signal} received, shutting down", { signal });
    server.stop().then(
      () => process.exit(0),
      (error) => {
        log.error("Shutdown failed: {error}", { error });
        process.exit(1);
      },
    );
  });
}
