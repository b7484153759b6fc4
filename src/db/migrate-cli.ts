import { ConfigError, loadConfig } from "../config/index.ts";
import { openDatabase } from "./open.ts";

// `npm run migrate`: opening the database applies pending migrations.
try {
  const database = await openDatabase(loadConfig());
  await database.close();
  console.log("Migrations are up to date.");
} catch (err) {
  console.error(err instanceof ConfigError ? err.message : err);
  process.exit(1);
}
