// "@earendil-works/pi-tui" (the package's newer name) is the same module instance as "@mariozechner/pi-tui".
export * from "@mariozechner/pi-tui";
