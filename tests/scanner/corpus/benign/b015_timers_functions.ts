const tick = (): void => { count++; };
let count = 0;
export const h = setInterval(tick, 1000);
setTimeout(() => clearInterval(h), 5000);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
