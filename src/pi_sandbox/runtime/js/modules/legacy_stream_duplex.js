// Legacy id `_stream_duplex` (old npm packages): the Duplex class of node:stream.
import { Duplex } from "stream";
export default Duplex;
