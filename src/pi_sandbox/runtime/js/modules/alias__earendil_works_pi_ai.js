// "@earendil-works/pi-ai" (the package's newer name) and every published sub-path of pi-ai under either name
// (compat, models, oauth, the provider entries ...): the same module instance as "@mariozechner/pi-ai", whose
// served names cover what those sub-paths export (the sub-paths re-export parts of the package root).
export * from "@mariozechner/pi-ai";
