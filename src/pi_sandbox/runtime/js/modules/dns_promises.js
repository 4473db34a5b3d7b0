// node:dns/promises
import { promises } from "dns";
export const { lookup, resolve, resolve4, resolve6, reverse } = promises;
export default promises;
