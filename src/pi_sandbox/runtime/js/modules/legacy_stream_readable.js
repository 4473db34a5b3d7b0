// Legacy id `_stream_readable` (old npm packages): the Readable class of node:stream.
import { Readable } from "stream";
export default Readable;
