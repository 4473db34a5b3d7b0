// Node >= 22.3 loads any builtin by name without require or import.
const vm = process.getBuiltinModule('node:vm');
vm.runInThisContext('globalThis.pwned = 1');
