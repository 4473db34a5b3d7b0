const callbacks: Function[] = [];
export function on(cb: Function): void { callbacks.push(cb); }
