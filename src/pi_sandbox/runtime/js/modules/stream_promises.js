// node:stream/promises
import { promises } from "stream";
export const pipeline = promises.pipeline;
export const finished = promises.finished;
export default promises;
