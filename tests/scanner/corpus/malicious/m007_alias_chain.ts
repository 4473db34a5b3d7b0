const a = eval;
const b = a;
export const run = (s: string) => b(s);
