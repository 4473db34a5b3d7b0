// Legacy id `_stream_writable` (old npm packages): the Writable class of node:stream.
import { Writable } from "stream";
export default Writable;
