// "typebox/value" (TypeBox 1.x) served by @sinclair/typebox/value; 1.x also default-exports Value.
import { Value } from "@sinclair/typebox/value";
import "pi:typebox-unsafe";
export * from "@sinclair/typebox/value";
export default Value;
