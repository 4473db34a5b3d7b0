globalThis.setTimeout("steal()", 5);
