// node:https — the http client with https: as the default protocol (TLS is the supervisor's business).
import { makeClient, Agent, createServer, Server, STATUS_CODES, METHODS } from "http";

const client = makeClient("https:");
export const request = client.request;
export const get = client.get;
export const globalAgent = new Agent();
export { Agent, createServer, Server, STATUS_CODES, METHODS };
export default { request, get, Agent, globalAgent, createServer, Server, STATUS_CODES, METHODS };
