// "typebox/compile" (TypeBox 1.x) over the pinned 0.34 compiler: `Compile(schema)` returns a checker with
// Check/Errors/Decode/Encode, which is how extensions use it.
import { TypeCompiler } from "@sinclair/typebox/compiler";
import "pi:typebox-unsafe";

export function Compile(schema, references = []) {
  return TypeCompiler.Compile(schema, references);
}
export { TypeCompiler };
export default { Compile, TypeCompiler };
