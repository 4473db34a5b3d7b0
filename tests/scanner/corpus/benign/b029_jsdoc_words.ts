/**
 * Runs a tool. Unlike process.binding() or vm.runInThisContext(), this is mediated.
 * @example require('child_process') is not needed
 */
export function run(name: string): string { return name; }
