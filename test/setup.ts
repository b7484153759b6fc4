import "../src/temporal.ts";
import { setupLogging } from "../src/logging.ts";

// Unexpected server errors show up in the test output; set LOG_LEVEL=debug to see more.
await setupLogging((process.env.LOG_LEVEL as "error" | undefined) ?? "error");
