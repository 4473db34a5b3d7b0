// "@sinclair/typebox/compile": a TypeBox 1.x sub-path under the 0.34 name. pi (0.7x) aliases every `@sinclair/typebox*`
// import to TypeBox 1.x, so extensions written for it may import `Compile` from here; 0.34 has no such sub-path
// (its compiler is `@sinclair/typebox/compiler`, served as 0.34), so this one is 1.x's, as in pi.
export * from "typebox/compile";
export { default } from "typebox/compile";
