// "@earendil-works/pi-ai" (the package's newer name) is the same module instance as "@mariozechner/pi-ai".
export * from "@mariozechner/pi-ai";
