/** The server's version, reported in OpenAPI, NodeInfo and the User-Agent. */
export const APP_VERSION = "0.1.0";
