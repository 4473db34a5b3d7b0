globalThis.process.binding('fs');
