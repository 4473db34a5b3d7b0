// "typebox" (TypeBox 1.x package name) served by the pinned @sinclair/typebox 0.34: the `Type.*` builders,
// Static and Value behave the same for what extensions do (define tool parameters). 1.x also default-exports Type.
import { Type } from "@sinclair/typebox";
import "pi:typebox-unsafe";
export * from "@sinclair/typebox";
export default Type;
