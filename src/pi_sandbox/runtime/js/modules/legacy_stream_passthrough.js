// Legacy id `_stream_passthrough` (old npm packages): the PassThrough class of node:stream.
import { PassThrough } from "stream";
export default PassThrough;
