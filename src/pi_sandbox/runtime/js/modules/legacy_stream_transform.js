// Legacy id `_stream_transform` (old npm packages): the Transform class of node:stream.
import { Transform } from "stream";
export default Transform;
