import "./temporal.ts";
import { getLogger } from "@logtape/logtape";
import { ConfigError, loadConfig } from "./config/index.ts";
import { setupLogging } from "./logging.ts";
import { startServer } from "./server.ts";

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
await setupLogging(config.logLevel);
const log = getLogger(["clawgram", "server"]);
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
