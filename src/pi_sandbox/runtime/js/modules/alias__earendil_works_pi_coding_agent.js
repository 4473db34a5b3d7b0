// "@earendil-works/pi-coding-agent" (the package's newer name) is the same module instance as "@mariozechner/pi-coding-agent".
export * from "@mariozechner/pi-coding-agent";
