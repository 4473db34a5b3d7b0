// "@earendil-works/pi-agent-core" (the package's newer name) is the same module instance as "@mariozechner/pi-agent-core".
export * from "@mariozechner/pi-agent-core";
