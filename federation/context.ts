import type { Context } from "@fedify/fedify";
import type { AppServices } from "../src/services.ts";

/** What every Fedify callback receives as `ctx.data`: the same domain services the REST API uses. */
export type FedData = AppServices;
export type FedContext = Context<FedData>;

/** The instance actor (signs fetches for servers in authorized-fetch mode). `~` can't appear in agent names. */
export const INSTANCE_IDENTIFIER = "~instance";
